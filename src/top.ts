/**
 * `http-statistics top`: a live table of what a running plugin counts, for
 * someone on the host without Scope or Prometheus. It reads the plugin's
 * GET /metrics on its unix socket once a second (no eBPF of its own): the
 * cumulative counters carry the command name and container, and two
 * successive reads give the request rate.
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
}

const rowKey = (labels: Record<string, string>) => `${labels.pid ?? ""}/${labels.container_id ?? ""}`;

/** Rows of one read, busiest first; `previous` (the last read's rows) and the seconds between give the rates. */
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
    }
  }
  const before = new Map(previous?.rows.map((row) => [`${row.pid ?? ""}/${row.container}`, row.requests]));
  const rows = [...byKey.values()];
  if (previous)
    for (const row of rows) {
      const old = before.get(`${row.pid ?? ""}/${row.container}`) ?? 0;
      // A counter that went down is a reused pid starting over.
      row.rate = (row.requests >= old ? row.requests - old : row.requests) / previous.seconds;
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

function columns(commWidth: number, withContainer: boolean, numberWidth = 8): Column[] {
  const count = (title: string, cell: (r: TopRow) => string): Column => ({ title, width: numberWidth, align: "right", cell });
  return [
    { title: "PID", width: 7, align: "right", cell: (r) => (r.pid === undefined ? "-" : String(r.pid)) },
    { title: "COMMAND", width: commWidth, align: "left", cell: (r) => r.comm || "-" },
    ...(withContainer ? [{ title: "CONTAINER", width: 12, align: "left" as const, cell: (r: TopRow) => r.container.slice(0, 12) || "-" }] : []),
    count("REQ/S", (r) => (r.rate === undefined ? "-" : r.rate.toFixed(1))),
    count("2XX", (r) => number(r.classes[0])),
    count("3XX", (r) => number(r.classes[1])),
    count("4XX", (r) => number(r.classes[2])),
    count("5XX", (r) => number(r.classes[3])),
  ];
}

const lineWidth = (cols: readonly Column[]) => cols.reduce((sum, c) => sum + c.width, 0) + cols.length - 1;

/**
 * The table in at most `width` columns and `height` lines: the container
 * column goes first when narrow, then the command narrows to 7, then the
 * counts to 6 characters; below that (under 50 columns) lines are cut.
 * Rows that do not fit the height are counted in the title.
 */
export function renderTop(rows: readonly TopRow[], width: number, height: number, title: string): string[] {
  let cols = columns(15, true);
  if (lineWidth(cols) > width) cols = columns(15, false);
  if (lineWidth(cols) > width) cols = columns(Math.max(7, 15 - (lineWidth(cols) - width)), false);
  if (lineWidth(cols) > width) cols = columns(7, false, Math.max(6, 8 - Math.ceil((lineWidth(cols) - width) / 5)));
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
    fit("2XX-5XX: responses since the plugin started. q quits."),
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
