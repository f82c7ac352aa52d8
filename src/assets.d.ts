/** Files imported `with { type: "file" }`: a path, on disk from source, inside the binary once compiled. */
declare module "*.bpf.o" {
  const path: string;
  export default path;
}
