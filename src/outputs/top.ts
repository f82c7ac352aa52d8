/**
 * `http-statistics top`: a live table of what a running plugin counts, for
 * someone on the host without Scope or Prometheus. It reads the plugin's
 * GET /metrics on its unix socket once a second (no eBPF of its own): the
 * cumulative counters carry the command name and container, and two
 * successive reads give the request rates and the latency of the requests
 * served in between.
 *
 * Parsing and layout are pure functions; runTop() owns the terminal.
 */

/** One sample line of the text format: name, labels, value. */
export interface ExposedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Reads the samples of a text-format exposition (the plugin's own; comments skipped). */
export function parseExposition(text: string): ExposedSample[] {
  const samples: ExposedSample[] = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = SAMPLE_LINE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const [, key, raw] of (m[2] ?? "").matchAll(LABEL))
      labels[key!] = raw!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

export interface TopRow {
  /** "pid" label; undefined when the plugin exports per container only. */
  pid?: number;
  comm: string;
  container: string;
  requests: number;
  /** Requests per second since the previous read; undefined on the first. */
  rate?: number;
  /** Responses since the plugin started, by class: [2xx, 3xx, 4xx, 5xx]. */
  classes: [number, number, number, number];
  /** Requests served since the plugin started, by duration: cumulative counts by upper bound in seconds, ascending (+Inf last). */
  durations: Array<[le: number, count: number]>;
  /** The 99th percentile of the durations of the requests served since the previous read, in ms; undefined when none was timed. */
  p99Ms?: number;
  /** Requests the process sent as a client since the plugin started. */
  outRequests: number;
  /** Requests sent per second since the previous read. */
  outRate?: number;
  /** gRPC calls the process answered since the plugin started, and those whose grpc-status was not OK. */
  grpcCalls: number;
  grpcErrors: number;
}

const rowKey = (labels: { pid?: string | number; container_id?: string }) => `${labels.pid ?? ""}/${labels.container_id ?? ""}`;

/**
 * The q-quantile of the requests counted in cumulative buckets, estimated
 * as Prometheus's histogram_quantile does (and so as the Grafana panels
 * show it): linearly within the bucket holding the rank, from 0 in the
 * first; the highest finite bound when the rank is in +Inf.
 */
export function bucketQuantile(q: number, buckets: ReadonlyArray<readonly [le: number, count: number]>): number | undefined {
  const total = buckets.at(-1)?.[1] ?? 0;
  if (total === 0) return undefined;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) return le === Infinity ? lower : lower + ((le - lower) * (rank - below)) / (count - below);
    lower = le;
    below = count;
  }
  return undefined;
}

/** What was counted between two reads of cumulative buckets; all of `now` when they went down (a reused pid starting over). */
function bucketsSince(now: TopRow["durations"], before: TopRow["durations"] | undefined): TopRow["durations"] {
  if (!before || (before.at(-1)?.[1] ?? 0) > (now.at(-1)?.[1] ?? 0)) return now;
  const old = new Map(before);
  return now.map(([le, count]) => [le, count - (old.get(le) ?? 0)]);
}

/** Rows of one read, busiest first; `previous` (the last read's rows) and the seconds between give the rates and the p99. */
export function topRows(samples: readonly ExposedSample[], previous?: { rows: readonly TopRow[]; seconds: number }): TopRow[] {
  const byKey = new Map<string, TopRow>();
  const rowOf = (labels: Record<string, string>) => {
    const key = rowKey(labels);
    let row = byKey.get(key);
    if (!row)
      byKey.set(
        key,
        (row = {
          ...(labels.pid !== undefined && { pid: Number(labels.pid) }),
          comm: labels.comm ?? "",
          container: labels.container_id ?? "",
          requests: 0,
          classes: [0, 0, 0, 0],
          durations: [],
          outRequests: 0,
          grpcCalls: 0,
          grpcErrors: 0,
        }),
      );
    return row;
  };
  for (const sample of samples) {
    if (sample.name === "http_statistics_requests_total") rowOf(sample.labels).requests += sample.value;
    else if (sample.name === "http_statistics_responses_total") {
      const klass = Math.floor(Number(sample.labels.code) / 100) - 2;
      const row = rowOf(sample.labels);
      if (klass >= 0 && klass < 4) row.classes[klass]! += sample.value;
    } else if (sample.name === "http_statistics_request_duration_seconds_bucket") {
      const le = sample.labels.le === "+Inf" ? Infinity : Number(sample.labels.le);
      rowOf(sample.labels).durations.push([le, sample.value]);
    } else if (sample.name === "http_statistics_client_requests_total") rowOf(sample.labels).outRequests += sample.value;
    else if (sample.name === "http_statistics_grpc_responses_total") {
      const row = rowOf(sample.labels);
      row.grpcCalls += sample.value;
      if (sample.labels.grpc_status !== "OK") row.grpcErrors += sample.value;
    }
  }
  const rows = [...byKey.values()];
  for (const row of rows) row.durations.sort(([a], [b]) => a - b);
  if (previous) {
    const before = new Map(previous.rows.map((row) => [rowKey({ pid: row.pid, container_id: row.container }), row]));
    // A counter that went down is a reused pid starting over.
    const since = (now: number, old = 0) => (now >= old ? now - old : now);
    for (const row of rows) {
      const old = before.get(rowKey({ pid: row.pid, container_id: row.container }));
      row.rate = since(row.requests, old?.requests) / previous.seconds;
      row.outRate = since(row.outRequests, old?.outRequests) / previous.seconds;
      const p99 = bucketQuantile(0.99, bucketsSince(row.durations, old?.durations));
      if (p99 !== undefined) row.p99Ms = p99 * 1000;
    }
  }
  return rows.sort((a, b) => (b.rate ?? 0) - (a.rate ?? 0) || b.requests - a.requests || (a.pid ?? 0) - (b.pid ?? 0) || (a.container < b.container ? -1 : 1));
}

interface Column {
  title: string;
  width: number;
  align: "left" | "right";
  cell(row: TopRow): string;
}

const number = (n: number) => String(n);
/** At most 6 characters up to the largest finite bound (100 s): "0.12", "12.3", "2500". */
const milliseconds = (ms: number) => ms.toFixed(ms >= 100 ? 0 : ms >= 10 ? 1 : 2);

/** Which columns a table has, and how wide the command and the counts are. */
interface Layout {
  command: number;
  container: boolean;
  out: boolean;
  /** Shown only when a process answered gRPC calls. */
  grpc: boolean;
  p99: boolean;
  numbers: number;
}

function columns({ command, container, out, grpc, p99, numbers }: Layout): Column[] {
  const count = (title: string, cell: (r: TopRow) => string): Column => ({ title, width: numbers, align: "right", cell });
  return [
    { title: "PID", width: 7, align: "right", cell: (r) => (r.pid === undefined ? "-" : String(r.pid)) },
    { title: "COMMAND", width: command, align: "left", cell: (r) => r.comm || "-" },
    ...(container ? [{ title: "CONTAINER", width: 12, align: "left" as const, cell: (r: TopRow) => r.container.slice(0, 12) || "-" }] : []),
    count("REQ/S", (r) => (r.rate === undefined ? "-" : r.rate.toFixed(1))),
    ...(p99 ? [count("P99 MS", (r) => (r.p99Ms === undefined ? "-" : milliseconds(r.p99Ms)))] : []),
    count("2XX", (r) => number(r.classes[0])),
    count("3XX", (r) => number(r.classes[1])),
    count("4XX", (r) => number(r.classes[2])),
    count("5XX", (r) => number(r.classes[3])),
    ...(grpc ? [count("GRPC ERR", (r) => (r.grpcCalls ? number(r.grpcErrors) : "-"))] : []),
    ...(out ? [count("OUT/S", (r) => (r.outRate === undefined ? "-" : r.outRate.toFixed(1)))] : []),
  ];
}

const lineWidth = (cols: readonly Column[]) => cols.reduce((sum, c) => sum + c.width, 0) + cols.length - 1;

/** Each step gives up a little more room, applied while the table is wider than the terminal. */
const narrowCommand = (layout: Layout, excess: number): Layout => ({ ...layout, command: Math.max(7, layout.command - excess) });
const NARROWER: ReadonlyArray<(layout: Layout, excess: number) => Layout> = [
  (layout) => ({ ...layout, container: false }),
  (layout) => ({ ...layout, out: false }),
  (layout) => ({ ...layout, grpc: false }),
  narrowCommand,
  (layout, excess) => ({ ...layout, numbers: Math.max(6, layout.numbers - Math.ceil(excess / (layout.p99 ? 6 : 5))) }),
  (layout) => ({ ...layout, p99: false }),
  // What the p99 gave back may still leave the command a little too wide.
  narrowCommand,
];

/**
 * The table in at most `width` columns and `height` lines: the container
 * column goes first when narrow, then the requests sent (OUT/S), then the
 * gRPC errors (a column only while some process answered gRPC), then the
 * command narrows to 7, the counts to 6 characters, and the p99 goes;
 * below that (under 50 columns) lines are cut. Rows that do not fit the
 * height are counted in the title.
 */
export function renderTop(rows: readonly TopRow[], width: number, height: number, title: string): string[] {
  let layout: Layout = { command: 15, container: true, out: true, grpc: rows.some((r) => r.grpcCalls > 0), p99: true, numbers: 8 };
  let cols = columns(layout);
  for (const narrower of NARROWER) {
    if (lineWidth(cols) <= width) break;
    layout = narrower(layout, lineWidth(cols) - width);
    cols = columns(layout);
  }
  const fit = (text: string) => (text.length > width ? text.slice(0, width) : text);
  const line = (cells: string[]) =>
    fit(cells.map((cell, i) => {
      const c = cols[i]!;
      const cut = cell.length > c.width && c.align === "left" ? cell.slice(0, c.width) : cell;
      return c.align === "left" ? cut.padEnd(c.width) : cut.padStart(c.width);
    }).join(" ").trimEnd());
  const room = Math.max(0, height - 3);
  const hidden = rows.length > room ? ` (${rows.length - room} more not shown)` : "";
  return [
    fit(`${title}${hidden}`),
    line(cols.map((c) => c.title)),
    ...rows.slice(0, room).map((row) => line(cols.map((c) => c.cell(row)))),
    fit(layout.grpc
      ? "P99: served since the last read. 2XX-5XX, GRPC ERR (not OK): since start. OUT/S: sent. q quits."
      : "P99: served since the last read. 2XX-5XX: since start. OUT/S: sent. q quits."),
  ];
}

function fail(message: string): never {
  process.stderr.write(`http-statistics: ${message}\n`);
  process.exit(1);
}

async function readMetrics(socket: string): Promise<string> {
  const res = await fetch("http://plugin/metrics", { unix: socket, headers: { accept: "text/plain" }, signal: AbortSignal.timeout(2000) } as RequestInit);
  const text = await res.text();
  if (!res.ok) throw new Error(`GET /metrics answered ${res.status} (a plugin older than top?)`);
  return text;
}

const ALTERNATE_SCREEN = "\x1b[?1049h\x1b[?25l";
const NORMAL_SCREEN = "\x1b[?25h\x1b[?1049l";

export async function runTop(socket: string): Promise<never> {
  let text: string;
  try {
    text = await readMetrics(socket);
  } catch (error) {
    fail(`no plugin answers on ${socket}: ${error instanceof Error ? error.message : String(error)} (is it running? --socket sets the path)`);
  }
  const out = process.stdout;
  const stdin = process.stdin;
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    if (stdin.isTTY) stdin.setRawMode(false);
    stdin.pause();
    out.write(NORMAL_SCREEN);
  };
  const quit = (code: number, message?: string): never => {
    restore();
    if (message) process.stderr.write(`http-statistics: ${message}\n`);
    process.exit(code);
  };
  out.write(ALTERNATE_SCREEN);
  if (stdin.isTTY) stdin.setRawMode(true);
  stdin.resume();
  stdin.on("data", (data: Buffer) => {
    // q, Q, Ctrl-C (raw mode delivers it as a byte, not a signal), Ctrl-D
    if (data.some((b) => b === 0x71 || b === 0x51 || b === 0x03 || b === 0x04)) quit(0);
  });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => quit(0));

  let rows = topRows(parseExposition(text));
  let readAt = performance.now();
  const draw = () => {
    const width = out.columns || 80;
    const height = out.rows || 24;
    const [one, many] = rows.some((r) => r.pid !== undefined) || rows.length === 0 ? ["process", "processes"] : ["container", "containers"];
    const title = `http-statistics top: ${rows.length} ${rows.length === 1 ? one : many} on ${socket}, ${new Date().toTimeString().slice(0, 8)}`;
    out.write(`\x1b[H${renderTop(rows, width, height, title).join("\x1b[K\r\n")}\x1b[K\x1b[J`);
  };
  out.on("resize", draw);
  draw();
  for (;;) {
    await Bun.sleep(1000 - (Date.now() % 1000) + 400); // just after the plugin's tick
    try {
      text = await readMetrics(socket);
    } catch (error) {
      quit(1, `the plugin on ${socket} stopped answering: ${error instanceof Error ? error.message : String(error)}`);
    }
    const now = performance.now();
    // Reads land just after the plugin's ticks: the delta holds whole seconds of counts.
    rows = topRows(parseExposition(text), { rows, seconds: Math.max(1, Math.round((now - readAt) / 1000)) });
    readAt = now;
    draw();
  }
}
