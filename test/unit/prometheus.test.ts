import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Deltas } from "../../src/pipeline/collector";
import { bucketOfUs, CLIENT_SIDE, GRPC_OTHER, GRPC_SLOT, LATENCY_BUCKETS, LOSS_REASONS } from "../../src/kernel/kernel_abi";
import { ProcessTotals } from "../../src/pipeline/process_totals";
import { boundsAreBucketEdges, buildMetrics, canonicalNumber, HISTOGRAM_BOUNDS_US, negotiate, type MetricsInput } from "../../src/outputs/prometheus";
import { timedSlots } from "../support/timed_slots";

const CONTAINER = "a".repeat(64);

function deltas(byPid: Record<number, Record<number, number>>): Deltas {
  return new Map(Object.entries(byPid).map(([pid, slots]) => [Number(pid), new Map(Object.entries(slots).map(([s, n]) => [Number(s), n]))]));
}

const IDENTITIES: Record<number, { comm: string; container?: string }> = {
  10: { comm: "nginx" },
  11: { comm: 'we"ird\\na\nme' },
  20: { comm: "python3", container: CONTAINER },
  21: { comm: "node", container: CONTAINER },
};

function totalsOf(...ticks: Deltas[]): ProcessTotals {
  const totals = new ProcessTotals((pid) => IDENTITIES[pid] ?? { comm: "" }, 300_000);
  for (const tick of ticks) totals.add(tick);
  return totals;
}

const NO_LOSSES = Object.fromEntries(LOSS_REASONS.map((r) => [r, 0]));

function input(totals: ProcessTotals, labels: MetricsInput["labels"] = "process", losses: Record<string, number> = NO_LOSSES): MetricsInput {
  return { processes: totals.values(), labels, losses, version: "1.2.3", capture: "socket" };
}

const LOSS_LINES = (values: Record<string, number> = {}) =>
  LOSS_REASONS.map((r) => `http_statistics_events_not_counted_total{reason="${r}"} ${values[r] ?? 0}\n`).join("");

describe("ProcessTotals", () => {
  test("sums every tick per process and slot, in the order processes first counted", () => {
    const totals = totalsOf(deltas({ 20: { 0: 3, 200: 3 } }), deltas({ 20: { 0: 2, 200: 1, 404: 1 }, 10: { 0: 1 } }));
    expect([...totals.values()].map((t) => [t.pid, t.comm, t.container, Object.fromEntries(t.counts)])).toEqual([
      [20, "python3", CONTAINER, { 0: 5, 200: 4, 404: 1 }],
      [10, "nginx", undefined, { 0: 1 }],
    ]);
  });

  test("a gone process stays for the retention period, then is dropped; a reused pid starts from zero", () => {
    const totals = totalsOf(deltas({ 10: { 0: 4, 200: 4 }, 20: { 0: 1 } }));
    totals.retire([10], 1_000);
    totals.retire([10], 50_000); // noticed again: the first time counts
    totals.prune(300_999);
    expect(totals.size).toBe(2);
    totals.prune(301_000);
    expect([...totals.values()].map((t) => t.pid)).toEqual([20]);

    totals.add(deltas({ 20: { 0: 1 } }));
    totals.retire([20], 5_000);
    totals.add(deltas({ 20: { 0: 7, 500: 7 } })); // pid 20 reused by a new process
    expect(Object.fromEntries([...totals.values()][0]!.counts)).toEqual({ 0: 7, 500: 7 });
    totals.prune(1_000_000);
    expect(totals.size).toBe(1);
  });
});

describe("buildMetrics", () => {
  const totals = () =>
    totalsOf(
      deltas({ 20: { 0: 5, 200: 4, 503: 1, [GRPC_SLOT]: 2, [GRPC_SLOT + 5]: 1 }, 10: { 0: 7, 200: 6, 404: 1 } }),
      deltas({ 21: { 0: 2, 200: 2, [CLIENT_SIDE + GRPC_SLOT + 13]: 2 }, 11: { 301: 1 }, 10: { 0: 3, 200: 3 }, 20: { [GRPC_SLOT]: 1, [GRPC_SLOT + GRPC_OTHER]: 1 } }),
    );

  test("per process, text format 0.0.4: exact text", () => {
    expect(buildMetrics(input(totals(), "process", { ...NO_LOSSES, desync: 2, parse_budget: 1 }), "text")).toBe(
      `# HELP http_statistics_requests_total HTTP requests seen by the kernel side since the plugin started.
# TYPE http_statistics_requests_total counter
http_statistics_requests_total{pid="10",comm="nginx"} 10
http_statistics_requests_total{pid="20",comm="python3",container_id="${CONTAINER}"} 5
http_statistics_requests_total{pid="21",comm="node",container_id="${CONTAINER}"} 2
# HELP http_statistics_responses_total HTTP responses seen since the plugin started, by status code.
# TYPE http_statistics_responses_total counter
http_statistics_responses_total{pid="10",comm="nginx",code="200"} 9
http_statistics_responses_total{pid="10",comm="nginx",code="404"} 1
http_statistics_responses_total{pid="11",comm="we\\"ird\\\\na\\nme",code="301"} 1
http_statistics_responses_total{pid="20",comm="python3",container_id="${CONTAINER}",code="200"} 4
http_statistics_responses_total{pid="20",comm="python3",container_id="${CONTAINER}",code="503"} 1
http_statistics_responses_total{pid="21",comm="node",container_id="${CONTAINER}",code="200"} 2
# HELP http_statistics_request_duration_seconds Requests served, by time from the read of their first byte to the send of their response's last byte.
# TYPE http_statistics_request_duration_seconds histogram
# HELP http_statistics_client_requests_total HTTP requests the process sent since the plugin started.
# TYPE http_statistics_client_requests_total counter
# HELP http_statistics_client_responses_total HTTP responses the process received since the plugin started, by status code.
# TYPE http_statistics_client_responses_total counter
# HELP http_statistics_client_request_duration_seconds Requests sent, by time from the send of their first byte to the read of their response's last byte.
# TYPE http_statistics_client_request_duration_seconds histogram
# HELP http_statistics_grpc_responses_total gRPC calls answered since the plugin started, by the grpc-status sent (OTHER: not a canonical code).
# TYPE http_statistics_grpc_responses_total counter
http_statistics_grpc_responses_total{pid="20",comm="python3",container_id="${CONTAINER}",grpc_status="OK"} 3
http_statistics_grpc_responses_total{pid="20",comm="python3",container_id="${CONTAINER}",grpc_status="NOT_FOUND"} 1
http_statistics_grpc_responses_total{pid="20",comm="python3",container_id="${CONTAINER}",grpc_status="OTHER"} 1
# HELP http_statistics_client_grpc_responses_total gRPC calls the process made since the plugin started, by the grpc-status received (OTHER: not a canonical code).
# TYPE http_statistics_client_grpc_responses_total counter
http_statistics_client_grpc_responses_total{pid="21",comm="node",container_id="${CONTAINER}",grpc_status="INTERNAL"} 2
# HELP http_statistics_events_not_counted_total Requests or responses the kernel side saw but could not count, by reason.
# TYPE http_statistics_events_not_counted_total counter
${LOSS_LINES({ desync: 2, parse_budget: 1 })}# HELP http_statistics_build_info Always 1: the plugin's version and the capture it loaded.
# TYPE http_statistics_build_info gauge
http_statistics_build_info{version="1.2.3",capture="socket"} 1
`,
    );
  });

  test("per container only, OpenMetrics 1.0.0: summed per container, processes outside any in one series without the label", () => {
    expect(buildMetrics(input(totals(), "container"), "openmetrics")).toBe(
      `# HELP http_statistics_requests HTTP requests seen by the kernel side since the plugin started.
# TYPE http_statistics_requests counter
http_statistics_requests_total 10
http_statistics_requests_total{container_id="${CONTAINER}"} 7
# HELP http_statistics_responses HTTP responses seen since the plugin started, by status code.
# TYPE http_statistics_responses counter
http_statistics_responses_total{code="200"} 9
http_statistics_responses_total{code="301"} 1
http_statistics_responses_total{code="404"} 1
http_statistics_responses_total{container_id="${CONTAINER}",code="200"} 6
http_statistics_responses_total{container_id="${CONTAINER}",code="503"} 1
# HELP http_statistics_request_duration_seconds Requests served, by time from the read of their first byte to the send of their response's last byte.
# TYPE http_statistics_request_duration_seconds histogram
# HELP http_statistics_client_requests HTTP requests the process sent since the plugin started.
# TYPE http_statistics_client_requests counter
# HELP http_statistics_client_responses HTTP responses the process received since the plugin started, by status code.
# TYPE http_statistics_client_responses counter
# HELP http_statistics_client_request_duration_seconds Requests sent, by time from the send of their first byte to the read of their response's last byte.
# TYPE http_statistics_client_request_duration_seconds histogram
# HELP http_statistics_grpc_responses gRPC calls answered since the plugin started, by the grpc-status sent (OTHER: not a canonical code).
# TYPE http_statistics_grpc_responses counter
http_statistics_grpc_responses_total{container_id="${CONTAINER}",grpc_status="OK"} 3
http_statistics_grpc_responses_total{container_id="${CONTAINER}",grpc_status="NOT_FOUND"} 1
http_statistics_grpc_responses_total{container_id="${CONTAINER}",grpc_status="OTHER"} 1
# HELP http_statistics_client_grpc_responses gRPC calls the process made since the plugin started, by the grpc-status received (OTHER: not a canonical code).
# TYPE http_statistics_client_grpc_responses counter
http_statistics_client_grpc_responses_total{container_id="${CONTAINER}",grpc_status="INTERNAL"} 2
# HELP http_statistics_events_not_counted Requests or responses the kernel side saw but could not count, by reason.
# TYPE http_statistics_events_not_counted counter
${LOSS_LINES()}# HELP http_statistics_build Always 1: the plugin's version and the capture it loaded.
# TYPE http_statistics_build info
http_statistics_build_info{version="1.2.3",capture="socket"} 1
# EOF
`,
    );
  });

  test("nothing counted yet: every family still described, losses at zero", () => {
    const text = buildMetrics(input(totalsOf()), "text");
    expect(text.split("\n").filter((l) => !l.startsWith("#") && l).length).toBe(LOSS_REASONS.length + 1);
    expect(text).toContain("# TYPE http_statistics_requests_total counter\n# HELP http_statistics_responses_total");
  });

  test("a loss reason the exporter does not know still shows, after the known ones", () => {
    const text = buildMetrics(input(totalsOf(), "process", { ...NO_LOSSES, new_reason: 3 }), "text");
    expect(text).toContain(`http_statistics_events_not_counted_total{reason="${LOSS_REASONS.at(-1)}"} 0\nhttp_statistics_events_not_counted_total{reason="new_reason"} 3\n`);
  });

  test("promtool check metrics accepts the output (Debian's prometheus package)", () => {
    const dir = mkdtempSync(join(tmpdir(), "hs-promtool-"));
    const file = join(dir, "metrics.txt");
    writeFileSync(file, buildMetrics(input(totals(), "process", { ...NO_LOSSES, desync: 2 }), "text"));
    const check = Bun.spawnSync(["sh", "-c", `promtool check metrics < ${file}`]);
    expect(check.stderr.toString() + check.stdout.toString()).toBe("");
    expect(check.exitCode).toBe(0);
  });
});

const LE = ["1e-05", "2.5e-05", "5e-05", "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0", "25.0", "50.0", "100.0", "+Inf"];

/** The _bucket lines of one series, from its cumulative count per bound (in LE's order). */
function bucketLines(family: string, labels: string, cumulative: number[]): string {
  expect(cumulative).toHaveLength(LE.length);
  return cumulative.map((count, i) => `${family}_bucket{${labels}${labels ? "," : ""}le="${LE[i]}"} ${count}\n`).join("");
}

describe("latency histograms and the client side", () => {
  const totals = () =>
    totalsOf(
      deltas({
        // nginx served 4 (5 us, 2 x 152 us, 30,999 us) and, as a client, sent 2: one answered in 2 ms, one after 4,000 s.
        10: { 0: 4, 200: 3, 500: 1, ...timedSlots("server", [5, 1], [152, 2]), [CLIENT_SIDE]: 2, [CLIENT_SIDE + 200]: 1, ...timedSlots("client", [2000, 1]) },
        20: { 0: 1, 200: 1 },
      }),
      deltas({ 10: { ...timedSlots("server", [30_999, 1]), [CLIENT_SIDE + 404]: 1, ...timedSlots("client", [4_000_000_000, 1]) }, 21: { 0: 1, 200: 1, ...timedSlots("server", [25, 1]) } }),
    );
  const NGINX = 'pid="10",comm="nginx"';
  const SERVER_NGINX = [1, 1, 1, 1, 3, 3, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4];
  const CLIENT_NGINX = [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2];

  test("per process, text format: cumulative buckets at the 1-2.5-5 bounds, sum in seconds, count; responses_total holds server statuses only", () => {
    const text = buildMetrics(input(totals()), "text");
    const family = (name: string) => text.slice(text.indexOf(`# HELP http_statistics_${name} `), text.indexOf("# HELP", text.indexOf(`# HELP http_statistics_${name} `) + 1));
    expect(family("responses_total")).toBe(`# HELP http_statistics_responses_total HTTP responses seen since the plugin started, by status code.
# TYPE http_statistics_responses_total counter
http_statistics_responses_total{${NGINX},code="200"} 3
http_statistics_responses_total{${NGINX},code="500"} 1
http_statistics_responses_total{pid="20",comm="python3",container_id="${CONTAINER}",code="200"} 1
http_statistics_responses_total{pid="21",comm="node",container_id="${CONTAINER}",code="200"} 1
`);
    expect(family("request_duration_seconds")).toBe(
      `# HELP http_statistics_request_duration_seconds Requests served, by time from the read of their first byte to the send of their response's last byte.
# TYPE http_statistics_request_duration_seconds histogram
${bucketLines("http_statistics_request_duration_seconds", NGINX, SERVER_NGINX)}http_statistics_request_duration_seconds_sum{${NGINX}} 0.031308
http_statistics_request_duration_seconds_count{${NGINX}} 4
${bucketLines("http_statistics_request_duration_seconds", `pid="21",comm="node",container_id="${CONTAINER}"`, [0, 0, 1, ...new Array(20).fill(1)])}http_statistics_request_duration_seconds_sum{pid="21",comm="node",container_id="${CONTAINER}"} 0.000025
http_statistics_request_duration_seconds_count{pid="21",comm="node",container_id="${CONTAINER}"} 1
`,
    );
    expect(family("client_requests_total") + family("client_responses_total") + family("client_request_duration_seconds")).toBe(
      `# HELP http_statistics_client_requests_total HTTP requests the process sent since the plugin started.
# TYPE http_statistics_client_requests_total counter
http_statistics_client_requests_total{${NGINX}} 2
# HELP http_statistics_client_responses_total HTTP responses the process received since the plugin started, by status code.
# TYPE http_statistics_client_responses_total counter
http_statistics_client_responses_total{${NGINX},code="200"} 1
http_statistics_client_responses_total{${NGINX},code="404"} 1
# HELP http_statistics_client_request_duration_seconds Requests sent, by time from the send of their first byte to the read of their response's last byte.
# TYPE http_statistics_client_request_duration_seconds histogram
${bucketLines("http_statistics_client_request_duration_seconds", NGINX, CLIENT_NGINX)}http_statistics_client_request_duration_seconds_sum{${NGINX}} 4000.002
http_statistics_client_request_duration_seconds_count{${NGINX}} 2
`,
    );
  });

  test("per container, OpenMetrics: the container's histograms are its processes' added bucket by bucket", () => {
    const text = buildMetrics(input(totals(), "container"), "openmetrics");
    const start = text.indexOf("# HELP http_statistics_request_duration_seconds ");
    expect(text.slice(start, text.indexOf("# HELP http_statistics_client_requests "))).toBe(
      `# HELP http_statistics_request_duration_seconds Requests served, by time from the read of their first byte to the send of their response's last byte.
# TYPE http_statistics_request_duration_seconds histogram
${bucketLines("http_statistics_request_duration_seconds", "", SERVER_NGINX)}http_statistics_request_duration_seconds_sum 0.031308
http_statistics_request_duration_seconds_count 4
${bucketLines("http_statistics_request_duration_seconds", `container_id="${CONTAINER}"`, [0, 0, 1, ...new Array(20).fill(1)])}http_statistics_request_duration_seconds_sum{container_id="${CONTAINER}"} 0.000025
http_statistics_request_duration_seconds_count{container_id="${CONTAINER}"} 1
`,
    );
    expect(text).toContain(`# TYPE http_statistics_client_requests counter\nhttp_statistics_client_requests_total 2\n`);
    expect(text.endsWith("# EOF\n")).toBe(true);
  });

  test("a series with no timed request has no histogram lines at all", () => {
    const text = buildMetrics(input(totalsOf(deltas({ 20: { 0: 3, 200: 3, [CLIENT_SIDE]: 1 } }))), "text");
    expect(text).not.toContain("_bucket");
    expect(text).not.toContain("duration_seconds_sum");
    expect(text).toContain(`http_statistics_client_requests_total{pid="20",comm="python3",container_id="${CONTAINER}"} 1\n`);
  });

  test("a request exactly as long as a bound counts under the next one (kernel buckets hold [lower, upper))", () => {
    const text = buildMetrics(input(totalsOf(deltas({ 10: timedSlots("server", [10, 1], [99_999_999, 1], [100_000_000, 1]) }))), "text");
    expect(text).toContain(`http_statistics_request_duration_seconds_bucket{${NGINX},le="1e-05"} 0\n`);
    expect(text).toContain(`http_statistics_request_duration_seconds_bucket{${NGINX},le="2.5e-05"} 1\n`);
    expect(text).toContain(`http_statistics_request_duration_seconds_bucket{${NGINX},le="50.0"} 1\n`);
    expect(text).toContain(`http_statistics_request_duration_seconds_bucket{${NGINX},le="100.0"} 2\n`);
    expect(text).toContain(`http_statistics_request_duration_seconds_bucket{${NGINX},le="+Inf"} 3\n`);
  });

  test("bounds: 1, 2.5, 5 x 10^k s from 10 us to 100 s, each a kernel bucket edge, written as OpenMetrics' canonical numbers", () => {
    expect(HISTOGRAM_BOUNDS_US.map((us) => canonicalNumber(us / 1e6))).toEqual(LE.slice(0, -1));
    expect(boundsAreBucketEdges()).toBe(true);
    expect(bucketOfUs(100_000_000)).toBeLessThan(LATENCY_BUCKETS - 1);
    // The spec's examples (Go's %g, ".0" added to whole numbers).
    expect(["0.0", "0.001", "0.95", "1.0", "1.7", "10.0", "1e-10", "1e-09", "1e-05", "0.0001", "100000.0", "1e+06", "1e+10", "Infinity"].map(Number).map(canonicalNumber)).toEqual([
      "0.0", "0.001", "0.95", "1.0", "1.7", "10.0", "1e-10", "1e-09", "1e-05", "0.0001", "100000.0", "1e+06", "1e+10", "+Inf",
    ]);
  });

  test("promtool check metrics accepts histograms and client families", () => {
    const dir = mkdtempSync(join(tmpdir(), "hs-promtool-"));
    const file = join(dir, "metrics.txt");
    writeFileSync(file, buildMetrics(input(totals()), "text"));
    const check = Bun.spawnSync(["sh", "-c", `promtool check metrics < ${file}`]);
    expect(check.stderr.toString() + check.stdout.toString()).toBe("");
    expect(check.exitCode).toBe(0);
  });
});

describe("negotiate", () => {
  test.each([
    [null, "text"],
    ["*/*", "text"],
    ["text/plain", "text"],
    // Prometheus 2.42's scrape header
    ["application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1", "openmetrics"],
    ["application/openmetrics-text", "openmetrics"],
    ["application/openmetrics-text;version=0.0.1", "text"],
    ["text/plain;q=0.9, application/openmetrics-text;q=0.5", "text"],
    ["application/openmetrics-text; version=1.0.0; q=0", "text"],
  ])("Accept %p: %p", (accept, format) => {
    expect(negotiate(accept)).toBe(format as "text" | "openmetrics");
  });
});
