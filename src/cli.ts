/** Command-line flags: parsing and the help text. No side effects. */

export const DEFAULT_SOCKET = "/var/run/scope/plugins/http-statistics/http-statistics.sock";

export interface Options {
  /** run: the plugin; top: a live table read from a running plugin's socket. */
  command: "run" | "top";
  socket: string;
  /** Host part of node ids; undefined: $SCOPE_HOSTNAME, else gethostname(). */
  hostname?: string;
  windowSeconds: number;
  /** Which capture front-end to load; auto: the socket tracepoints if the kernel has them. */
  capture: "auto" | "socket" | "syscalls";
  maxConnections: number;
  maxCounters: number;
  /** Also serve GET /metrics on TCP; undefined: the unix socket only, nothing on the network. */
  listen?: { hostname: string; port: number };
  /** Prometheus series per process or per container only. */
  metricsLabels: "process" | "container";
  /** How long an exited process's series stay in /metrics. */
  metricsRetentionSeconds: number;
  /** Load the host's libbpf.so.1 instead of the copy embedded in the binary. */
  systemLibbpf: boolean;
  verbose: boolean;
  /** Ask a running plugin on --socket for a report and exit 0 or 1: a readiness probe for images without a shell. */
  healthCheck: boolean;
  help: boolean;
  version: boolean;
}

export class UsageError extends Error {}

/** sun_path holds 108 bytes with the NUL: a longer path cannot be bound, nor connected to by the probe. */
const MAX_SOCKET_PATH_BYTES = 107;

/** What may go between "<host>;" and nothing else in a node id: RFC 1123 letters, digits, dots, dashes (and underscores, which hosts use). */
function isHostName(name: string): boolean {
  return name.length <= 253 && /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name);
}

interface Flag {
  name: keyof Options;
  value?: "path" | "name" | "count" | "mode" | "address" | "duration";
  /** The values a "mode" flag accepts. */
  choices?: readonly string[];
  min?: number;
  max?: number;
  help: string;
  /** Does something and exits instead of configuring the run: no default to show. */
  action?: true;
}

const FLAGS: Record<string, Flag> = {
  "--socket": { name: "socket", value: "path", help: "unix socket to serve the Scope probe on" },
  "--hostname": { name: "hostname", value: "name", help: "host part of process node ids (default: $SCOPE_HOSTNAME, else the host name)" },
  "--window": { name: "windowSeconds", value: "count", min: 2, max: 300, help: "seconds of per-second samples each report carries (Scope keeps 15 s of reports itself)" },
  "--capture": {
    name: "capture",
    value: "mode",
    choices: ["auto", "socket", "syscalls"],
    help: "socket: sock_recv/send_length tracepoints (Linux 6.3+); syscalls: syscall exits (slower, for older kernels); auto: socket if the kernel has it",
  },
  "--max-connections": { name: "maxConnections", value: "count", min: 1024, max: 4_194_304, help: "TCP connections the syscall capture follows at once (the socket capture needs no table)" },
  "--max-counters": { name: "maxCounters", value: "count", min: 1024, max: 4_194_304, help: "(process, slot) counters kept at once: requests, status codes, latency buckets, on each side" },
  "--listen": { name: "listen", value: "address", help: "also serve GET /metrics (Prometheus) on this TCP address, e.g. 0.0.0.0:9847 (default: off, the unix socket only)" },
  "--metrics-labels": {
    name: "metricsLabels",
    value: "mode",
    choices: ["process", "container"],
    help: "Prometheus series per process (pid, comm, container_id) or per container only (fewer series on busy hosts)",
  },
  "--metrics-retention": { name: "metricsRetentionSeconds", value: "duration", min: 0, max: 86_400, help: "how long an exited process's series stay in /metrics: 30s, 5m, 1h" },
  "--system-libbpf": { name: "systemLibbpf", help: "load the host's libbpf.so.1 instead of the embedded libbpf" },
  "--verbose": { name: "verbose", help: "print libbpf's log to stderr" },
  "--health-check": { name: "healthCheck", action: true, help: "exit 0 if a plugin answers GET /report on --socket within 2 s, else 1 (readiness probes)" },
  "--help": { name: "help", action: true, help: "show this help and exit" },
  "--version": { name: "version", action: true, help: "print the version, git commit and libbpf version, and exit" },
};

export function defaultOptions(): Options {
  return {
    command: "run",
    socket: DEFAULT_SOCKET,
    windowSeconds: 3,
    capture: "auto",
    maxConnections: 65_536,
    maxCounters: 65_536,
    metricsLabels: "process",
    metricsRetentionSeconds: 300,
    systemLibbpf: false,
    verbose: false,
    healthCheck: false,
    help: false,
    version: false,
  };
}

/** The flags `top` takes: it only reads a running plugin's socket. */
const TOP_FLAGS = new Set(["--socket", "--help"]);

const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600 };

/** "HOST:PORT" or "[IPv6]:PORT". */
function parseAddress(name: string, raw: string): { hostname: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(raw);
  const port = Number(m?.[3]);
  if (!m || port < 1 || port > 65_535) throw new UsageError(`${name} must be HOST:PORT (e.g. 127.0.0.1:9847 or [::1]:9847), not '${raw}'`);
  return { hostname: m[1] ?? m[2]!, port };
}

export function parseArgs(argv: string[]): Options {
  const options = defaultOptions() as unknown as Record<string, unknown>;
  const top = argv[0] === "top";
  if (top) options.command = "top";
  for (let i = top ? 1 : 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf("=");
    const name = arg.startsWith("--") && eq > 0 ? arg.slice(0, eq) : arg;
    const flag = FLAGS[name];
    if (!flag) throw new UsageError(`unknown argument '${arg}' (see --help)`);
    if (top && !TOP_FLAGS.has(name)) throw new UsageError(`top takes only --socket (it reads a running plugin), not '${name}'`);
    if (!flag.value) {
      if (eq > 0) throw new UsageError(`${name} takes no value`);
      options[flag.name] = true;
      continue;
    }
    const raw = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (raw === undefined || raw === "") throw new UsageError(`${name} needs a ${flag.value}`);
    if (flag.value === "count") {
      // Plain decimal digits only: Number() would also read '0x10', '1e1' and ' 10'.
      const n = /^[0-9]+$/.test(raw) ? Number(raw) : NaN;
      if (!Number.isInteger(n) || n < flag.min! || n > flag.max!)
        throw new UsageError(`${name} must be a whole number from ${flag.min} to ${flag.max}, not '${raw}'`);
      options[flag.name] = n;
    } else if (flag.value === "mode") {
      if (!flag.choices!.includes(raw)) throw new UsageError(`${name} must be one of ${flag.choices!.join(", ")}, not '${raw}'`);
      options[flag.name] = raw;
    } else if (flag.value === "address") {
      options[flag.name] = parseAddress(name, raw);
    } else if (flag.value === "duration") {
      const m = /^(\d+)(s|m|h)$/.exec(raw);
      const seconds = m ? Number(m[1]) * DURATION_UNITS[m[2]!]! : NaN;
      if (!(seconds >= flag.min! && seconds <= flag.max!)) throw new UsageError(`${name} must be a duration like 30s, 5m or 1h (at most 24h), not '${raw}'`);
      options[flag.name] = seconds;
    } else if (flag.value === "path") {
      if (!raw.startsWith("/")) throw new UsageError(`${name} must be an absolute path, not '${raw}'`);
      const bytes = Buffer.byteLength(raw);
      if (bytes > MAX_SOCKET_PATH_BYTES) throw new UsageError(`${name} must be at most ${MAX_SOCKET_PATH_BYTES} bytes long, not ${bytes}`);
      options[flag.name] = raw;
    } else {
      if (!isHostName(raw)) throw new UsageError(`${name} '${raw}' is not a valid host name`);
      options[flag.name] = raw;
    }
  }
  return options as unknown as Options;
}

/** The host part of node ids: --hostname, else $SCOPE_HOSTNAME (as the probe does), else the machine's name; each held to the same rule. */
export function hostIdFor(options: Options, env: Record<string, string | undefined>, machineName: string): string {
  if (options.hostname !== undefined) return options.hostname;
  const fromEnv = env.SCOPE_HOSTNAME;
  if (fromEnv) {
    if (!isHostName(fromEnv)) throw new UsageError(`SCOPE_HOSTNAME '${fromEnv}' is not a valid host name (or pass --hostname NAME)`);
    return fromEnv;
  }
  if (!isHostName(machineName)) throw new UsageError(`this machine's host name '${machineName}' is not a valid host name (pass --hostname NAME)`);
  return machineName;
}

function showDefault(flag: Flag, value: unknown): unknown {
  if (flag.value === "duration") return `${Number(value) / 60}m`;
  return flag.value ? value : value ? "on" : "off";
}

export function helpText(command: Options["command"] = "run"): string {
  const defaults = defaultOptions() as unknown as Record<string, unknown>;
  const flags = Object.entries(FLAGS).filter(([name]) => command === "run" || TOP_FLAGS.has(name));
  const lines = flags.map(([name, flag]) => {
    const left = flag.choices ? `${name} ${flag.choices.join("|")}` : flag.value ? `${name} ${flag.value.toUpperCase()}` : name;
    const shown = showDefault(flag, defaults[flag.name]);
    const range = flag.min === undefined || flag.value === "duration" ? "" : `${flag.min} to ${flag.max}, `;
    const suffix = flag.action || shown === undefined ? "" : ` (${range}default: ${shown})`;
    return `  ${left.padEnd(24)} ${flag.help}${suffix}`;
  });
  if (command === "top")
    return [
      "Usage: http-statistics top [--socket PATH]",
      "",
      "A live table of the processes a running plugin counts, busiest first, read",
      "from its socket each second (no eBPF of its own). q or Ctrl-C quits.",
      "",
      ...lines,
      "",
    ].join("\n");
  return [
    "Usage: http-statistics [flags]",
    "       http-statistics top [--socket PATH]",
    "",
    "Measures HTTP requests and responses per process with eBPF and serves them",
    "to Weave Scope as a probe plugin (GET /report on a unix socket) and to",
    "Prometheus (GET /metrics on the same socket, and on --listen). Needs root.",
    "",
    ...lines,
    "",
  ].join("\n");
}
