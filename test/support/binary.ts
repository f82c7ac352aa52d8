/** Builds dist/http-statistics once per test run, for the tests that run the compiled binary. */
import { buildBinary } from "../../build";
import { BINARY } from "./plugin";

let built: Promise<string> | undefined;

export function ensureBinary(): Promise<string> {
  built ??= buildBinary().then(() => BINARY);
  return built;
}
