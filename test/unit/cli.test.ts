import { describe, expect, test } from "bun:test";
import { DEFAULT_SOCKET, defaultOptions, helpText, parseArgs, UsageError } from "../../src/cli";

describe("parseArgs", () => {
  test("no flags: the defaults, socket where Scope looks", () => {
    expect(parseArgs([])).toEqual(defaultOptions());
    expect(DEFAULT_SOCKET).toBe("/var/run/scope/plugins/http-statistics/http-statistics.sock");
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
  ])("%p is refused with one clear line", (argv, message) => {
    expect(() => parseArgs(argv as string[])).toThrow(new UsageError(message as string));
  });

  test("help lists every flag with its default", () => {
    const help = helpText();
    for (const flag of ["--socket", "--hostname", "--window", "--max-connections", "--max-counters", "--verbose", "--help", "--version"])
      expect(help).toContain(flag);
    expect(help).toContain(`(default: ${DEFAULT_SOCKET})`);
    expect(help).toContain("(default: 3)");
  });
});
