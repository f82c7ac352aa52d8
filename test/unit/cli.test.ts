import { describe, expect, test } from "bun:test";
import { DEFAULT_SOCKET, helpText, hostIdFor, parseArgs, UsageError, type Options } from "../../src/cli";

/** What running with no flag means, written out: the values --help and the docs promise. */
const DEFAULTS: Options = {
  command: "run",
  socket: "/var/run/scope/plugins/http-statistics/http-statistics.sock",
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

describe("parseArgs", () => {
  test("no flags: the defaults, socket where Scope looks", () => {
    expect(parseArgs([])).toEqual(DEFAULTS);
    expect(DEFAULT_SOCKET).toBe(DEFAULTS.socket);
  });

  test("values as separate words or after =", () => {
    const o = parseArgs(["--socket", "/tmp/x.sock", "--hostname=node-1", "--window", "30", "--verbose"]);
    expect(o.socket).toBe("/tmp/x.sock");
    expect(o.hostname).toBe("node-1");
    expect(o.windowSeconds).toBe(30);
    expect(o.verbose).toBe(true);
  });

  test.each([
    [["--bogus"], "unknown argument '--bogus' (see --help)"],
    [["--socket"], "--socket needs a path"],
    [["--socket", "relative.sock"], "--socket must be an absolute path, not 'relative.sock'"],
    [["--window", "1"], "--window must be a whole number from 2 to 300, not '1'"],
    [["--window", "ten"], "--window must be a whole number from 2 to 300, not 'ten'"],
    [["--hostname", "bad;name"], "--hostname 'bad;name' is not a valid host name"],
    [["--verbose=yes"], "--verbose takes no value"],
    // Number() reads these as 16, 10, 10 and 20: only plain decimal digits are a count.
    [["--window", "0x10"], "--window must be a whole number from 2 to 300, not '0x10'"],
    [["--window", "1e1"], "--window must be a whole number from 2 to 300, not '1e1'"],
    [["--window", " 10"], "--window must be a whole number from 2 to 300, not ' 10'"],
    [["--max-counters=2048.0"], "--max-counters must be a whole number from 1024 to 4194304, not '2048.0'"],
    [["--hostname", "a".repeat(254)], `--hostname '${"a".repeat(254)}' is not a valid host name`],
    // bind() takes at most 107 bytes of path; a longer one would fail after its directories were made.
    [["--socket", `/tmp/${"s".repeat(103)}`], `--socket must be at most 107 bytes long, not 108`],
    [["--listen", "9847"], "--listen must be HOST:PORT (e.g. 127.0.0.1:9847 or [::1]:9847), not '9847'"],
    [["--listen", "127.0.0.1:70000"], "--listen must be HOST:PORT (e.g. 127.0.0.1:9847 or [::1]:9847), not '127.0.0.1:70000'"],
    [["--listen", "::1:9847"], "--listen must be HOST:PORT (e.g. 127.0.0.1:9847 or [::1]:9847), not '::1:9847'"],
    [["--metrics-labels", "pod"], "--metrics-labels must be one of process, container, not 'pod'"],
    [["--metrics-retention", "5"], "--metrics-retention must be a duration like 30s, 5m or 1h (at most 24h), not '5'"],
    [["--metrics-retention", "25h"], "--metrics-retention must be a duration like 30s, 5m or 1h (at most 24h), not '25h'"],
  ])("%p is refused with one clear line", (argv, message) => {
    expect(() => parseArgs(argv as string[])).toThrow(new UsageError(message as string));
  });

  test("Prometheus flags: --listen HOST:PORT (IPv6 in brackets), label set, retention as a duration", () => {
    expect(parseArgs([]).listen).toBeUndefined();
    expect(parseArgs(["--listen", "127.0.0.1:18700"]).listen).toEqual({ hostname: "127.0.0.1", port: 18700 });
    expect(parseArgs(["--listen=[::1]:9847"]).listen).toEqual({ hostname: "::1", port: 9847 });
    expect(parseArgs(["--listen", "node-1.example:80"]).listen).toEqual({ hostname: "node-1.example", port: 80 });
    expect(parseArgs([]).metricsLabels).toBe("process");
    expect(parseArgs(["--metrics-labels", "container"]).metricsLabels).toBe("container");
    expect(parseArgs([]).metricsRetentionSeconds).toBe(300);
    expect(parseArgs(["--metrics-retention", "30s"]).metricsRetentionSeconds).toBe(30);
    expect(parseArgs(["--metrics-retention=2h"]).metricsRetentionSeconds).toBe(7200);
    expect(parseArgs(["--metrics-retention=0s"]).metricsRetentionSeconds).toBe(0);
  });

  test("top: a subcommand that takes only --socket", () => {
    expect(parseArgs(["top"])).toEqual({ ...DEFAULTS, command: "top" });
    expect(parseArgs(["top", "--socket", "/tmp/p.sock"]).socket).toBe("/tmp/p.sock");
    expect(() => parseArgs(["top", "--listen", "127.0.0.1:1"])).toThrow(new UsageError("top takes only --socket (it reads a running plugin), not '--listen'"));
    expect(() => parseArgs(["--verbose", "top"])).toThrow(new UsageError("unknown argument 'top' (see --help)"));
    expect(helpText("top")).toBe(
      "Usage: http-statistics top [--socket PATH]\n\nA live table of the processes a running plugin counts, busiest first, read\nfrom its socket each second (no eBPF of its own). q or Ctrl-C quits.\n\n" +
        `  --socket PATH            unix socket to serve the Scope probe on (default: ${DEFAULT_SOCKET})\n` +
        "  --help                   show this help and exit\n",
    );
  });

  test("help lists every flag with its default", () => {
    const help = helpText();
    for (const flag of ["--socket", "--hostname", "--window", "--max-connections", "--max-counters", "--listen", "--metrics-labels", "--metrics-retention", "--verbose", "--help", "--version"])
      expect(help).toContain(flag);
    expect(help).toContain(`(default: ${DEFAULT_SOCKET})`);
    expect(help).toContain("default: 3)");
    expect(help).toContain("--metrics-retention DURATION");
    expect(help).toContain("(default: 5m)");
    expect(help).toContain("--metrics-labels process|container");
  });

  test("help gives the range of every numeric flag", () => {
    const help = helpText();
    expect(help).toContain("--window COUNT");
    expect(help).toMatch(/--window COUNT +seconds of per-second samples each report carries \(Scope keeps 15 s of reports itself\) \(2 to 300, default: 3\)/);
    expect(help).toMatch(/--max-connections COUNT .*\(1024 to 4194304, default: 65536\)/);
    expect(help).toMatch(/--max-counters COUNT .*\(1024 to 4194304, default: 65536\)/);
  });
});

describe("hostIdFor: the host part of node ids", () => {
  test("--hostname, else $SCOPE_HOSTNAME, else the machine's name", () => {
    expect(hostIdFor(parseArgs(["--hostname", "node-1"]), { SCOPE_HOSTNAME: "scope-1" }, "machine")).toBe("node-1");
    expect(hostIdFor(parseArgs([]), { SCOPE_HOSTNAME: "scope-1" }, "machine")).toBe("scope-1");
    expect(hostIdFor(parseArgs([]), {}, "machine")).toBe("machine");
    expect(hostIdFor(parseArgs([]), { SCOPE_HOSTNAME: "" }, "machine")).toBe("machine");
  });

  test("$SCOPE_HOSTNAME is held to the same rule as --hostname: it goes into every node id", () => {
    expect(() => hostIdFor(parseArgs([]), { SCOPE_HOSTNAME: 'a;b"<x>' }, "machine")).toThrow(
      new UsageError(`SCOPE_HOSTNAME 'a;b"<x>' is not a valid host name (or pass --hostname NAME)`),
    );
    expect(() => hostIdFor(parseArgs([]), {}, "bad;name")).toThrow(
      new UsageError("this machine's host name 'bad;name' is not a valid host name (pass --hostname NAME)"),
    );
  });
});
