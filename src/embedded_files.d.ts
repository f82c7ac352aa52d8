// Files `bun build --compile` embeds (imported `with { type: "file" }`): the import is their path.
declare module "*.so.1" {
  const path: string;
  export default path;
}
declare module "*.bpf.o" {
  const path: string;
  export default path;
}
declare module "*.wasm" {
  const path: string;
  export default path;
}
