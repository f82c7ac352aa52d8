// Fetches base + each path on stdin (one per line) with Node's fetch, one
// after another over its keep-alive pool, and prints each status code.
const base = process.argv[2];
let input = "";
for await (const chunk of process.stdin) input += chunk;
const codes = [];
for (const path of input.split("\n").filter(Boolean)) {
  const res = await fetch(base + path);
  await res.arrayBuffer();
  codes.push(res.status);
}
// Exit at once: undici keeps idle keep-alive sockets open (and the process alive) for as long as the server does.
process.stdout.write(codes.join("\n") + "\n", () => process.exit(0));
