/** Set by build.ts in compiled binaries; "dev" when run from source. */
declare const HS_BUILD_VERSION: string | undefined;
export const VERSION: string = typeof HS_BUILD_VERSION === "string" ? HS_BUILD_VERSION : "0.1.0-dev";
