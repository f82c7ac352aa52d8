/** HTTP clients for the tests: curl (Debian's), bounded and on loopback only. */

export interface CurlOptions {
  /** Send "Connection: close" so every request opens a new connection. */
  close?: boolean;
  method?: string;
  http10?: boolean;
}

/** Fetches each URL once, in order, in one curl process; returns the status codes. */
export async function curl(urls: string[], options: CurlOptions = {}): Promise<number[]> {
  if (urls.length > 20_000) throw new Error("refusing an unbounded request loop");
  for (const url of urls) if (!/^http:\/\/(127\.0\.0\.1|\[::1\]|localhost)[:/]/.test(url)) throw new Error(`not loopback: ${url}`);
  const args = ["curl", "-s", "-w", "%{http_code}\\n"];
  if (options.close) args.push("-H", "Connection: close");
  if (options.method) args.push("-X", options.method);
  if (options.http10) args.push("--http1.0");
  for (const url of urls) args.push("-o", "/dev/null", url);
  const proc = Bun.spawn(args, { stdout: "pipe", stderr: "pipe" });
  const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  if (code !== 0) throw new Error(`curl exited ${code}: ${await new Response(proc.stderr).text()}`);
  return out.trim().split("\n").map(Number);
}

/** Status NNN requested `count` times: ["http://host:port/status/NNN", ...]. */
export function statusUrls(base: string, plan: Record<number, number>): string[] {
  return Object.entries(plan).flatMap(([code, count]) => Array.from({ length: count }, () => `${base}/status/${code}`));
}
