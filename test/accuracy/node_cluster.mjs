// Node's cluster module in its default round-robin mode: the primary
// accepts every connection and passes it to a worker over IPC (SCM_RIGHTS).
// argv: port workers. GET /status/NNN answers NNN. Each worker prints its pid.
import cluster from "node:cluster";
import http from "node:http";

const [port, workers] = [Number(process.argv[2]), Number(process.argv[3])];
cluster.schedulingPolicy = cluster.SCHED_RR;
if (cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork().on("online", () => {});
  let listening = 0;
  cluster.on("listening", (worker) => {
    process.stdout.write(`worker ${worker.process.pid}\n`);
    if (++listening === workers) process.stdout.write("ready\n");
  });
} else {
  http
    .createServer((req, res) => {
      const match = /^\/status\/(\d{3})$/.exec(req.url ?? "");
      const code = match ? Number(match[1]) : 404;
      res.writeHead(code, { "content-type": "text/plain" });
      res.end(code === 204 || code === 304 ? undefined : `status ${code}\n`);
    })
    .listen(port, "127.0.0.1");
}
