/**
 * The Prometheus side of deploy/: the DaemonSet patch and the Grafana
 * dashboard, checked structurally and against the exporter they depend on
 * (test/integration/prometheus.test.ts also runs every dashboard query in
 * a real Prometheus).
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "../../src/cli";
import { CLIENT_SIDE, GRPC_SLOT, LATENCY_SLOT, LATENCY_SUM_SLOT, LOSS_REASONS, REQUEST_SLOT } from "../../src/kernel/kernel_abi";
import { ProcessTotals } from "../../src/pipeline/process_totals";
import { buildMetrics } from "../../src/outputs/prometheus";
import { parseExposition } from "../../src/outputs/top";
import { REPO } from "../support/plugin";

const read = (...path: string[]) => readFileSync(join(REPO, "deploy", ...path), "utf8");

interface Dashboard {
  title: string;
  uid: string;
  schemaVersion: number;
  templating: { list: Array<{ name: string; type: string; query: unknown }> };
  panels: Array<{
    id: number;
    type: string;
    title: string;
    datasource: { type: string; uid: string };
    gridPos: { x: number; y: number; w: number; h: number };
    targets: Array<{ refId: string; expr: string; datasource: { type: string; uid: string } }>;
  }>;
}

const dashboard = JSON.parse(read("grafana", "http-statistics.json")) as Dashboard;

/** What the exporter emits, per process with a container, so every name and label shows. */
function exported(): { names: Set<string>; labels: Set<string> } {
  const totals = new ProcessTotals(() => ({ comm: "nginx", container: "f".repeat(64) }), 1000);
  // Served and sent, timed on both sides: every family has a series.
  const slots = [REQUEST_SLOT, 200, GRPC_SLOT + 5, LATENCY_SUM_SLOT, LATENCY_SLOT + 150].flatMap((slot) => [slot, CLIENT_SIDE + slot]);
  totals.add(new Map([[7, new Map(slots.map((slot) => [slot, 1]))]]));
  const text = buildMetrics(
    { processes: totals.values(), labels: "process", losses: Object.fromEntries(LOSS_REASONS.map((r) => [r, 0])), version: "1", capture: "socket" },
    "text",
  );
  const samples = parseExposition(text);
  return { names: new Set(samples.map((s) => s.name)), labels: new Set(samples.flatMap((s) => Object.keys(s.labels))) };
}

describe("Grafana dashboard", () => {
  const { names, labels } = exported();
  const scrapeLabels = new Set([...labels, "instance", "job"]);
  const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr));

  test("identity and the panels the issues ask for: served traffic, its latency, the client side, losses, gRPC statuses", () => {
    expect([dashboard.uid, dashboard.title]).toEqual(["http-statistics", "HTTP statistics"]);
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.panels.map((p) => p.title)).toEqual([
      "Requests per second by status code",
      "Error ratio (5xx / all responses)",
      "Server latency (p50, p95, p99)",
      "Requests per second per container",
      "Requests per second per process (top 10)",
      "5xx per second per process (top 10)",
      "Outgoing requests per second per process (top 10)",
      "Outgoing errors per second (4xx, 5xx received)",
      "Outgoing request latency p99 per process (top 10)",
      "Events not counted per second, by reason",
      "gRPC calls per second by grpc-status",
      "gRPC errors per second per process (top 10)",
    ]);
  });

  test("latency panels: quantiles of the histograms' bucket rates, summed by le (and the series they are per), in seconds", () => {
    const panel = (title: string) => dashboard.panels.find((p) => p.title === title)!;
    expect(panel("Server latency (p50, p95, p99)").targets.map((t) => t.expr)).toEqual(
      [0.5, 0.95, 0.99].map((q) => `histogram_quantile(${q}, sum by (le) (rate(http_statistics_request_duration_seconds_bucket{instance=~"$instance"}[$__rate_interval])))`),
    );
    expect(panel("Outgoing request latency p99 per process (top 10)").targets.map((t) => t.expr)).toEqual([
      `topk(10, histogram_quantile(0.99, sum by (instance, pid, comm, le) (rate(http_statistics_client_request_duration_seconds_bucket{instance=~"$instance"}[$__rate_interval]))))`,
    ]);
    for (const title of ["Server latency (p50, p95, p99)", "Outgoing request latency p99 per process (top 10)"])
      expect((panel(title) as unknown as { fieldConfig: { defaults: { unit: string } } }).fieldConfig.defaults.unit).toBe("s");
  });

  test("panels: unique ids, inside the 24-column grid, never overlapping", () => {
    expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length);
    const cells = new Set<string>();
    for (const { gridPos: g, title } of dashboard.panels) {
      expect([title, g.x >= 0 && g.w > 0 && g.x + g.w <= 24 && g.h > 0 && g.y >= 0]).toEqual([title, true]);
      for (let x = g.x; x < g.x + g.w; x++)
        for (let y = g.y; y < g.y + g.h; y++) {
          expect(cells.has(`${x},${y}`)).toBe(false);
          cells.add(`${x},${y}`);
        }
    }
  });

  test("every query names only series and labels the exporter (or the scrape) provides, through the chosen data source", () => {
    for (const panel of dashboard.panels) {
      expect(panel.datasource).toEqual({ type: "prometheus", uid: "${datasource}" });
      for (const target of panel.targets) expect(target.datasource).toEqual(panel.datasource);
    }
    for (const expr of exprs) {
      for (const [name] of expr.matchAll(/http_statistics_\w+/g)) expect([expr, names.has(name)]).toEqual([expr, true]);
      for (const [, group] of expr.matchAll(/by \(([^)]*)\)/g))
        for (const label of group!.split(",").map((l) => l.trim())) expect([expr, label, scrapeLabels.has(label)]).toEqual([expr, label, true]);
      for (const [, label] of expr.matchAll(/[{,]\s*(\w+)\s*(?:=~|!=|!~|=)/g)) expect([expr, label, scrapeLabels.has(label!)]).toEqual([expr, label, true]);
      expect(expr).toContain('instance=~"$instance"');
    }
  });

  test("the variables the queries use are defined", () => {
    expect(dashboard.templating.list.map((v) => [v.name, v.type])).toEqual([
      ["datasource", "datasource"],
      ["instance", "query"],
    ]);
  });
});

describe("DaemonSet patch for Prometheus", () => {
  interface Patch {
    spec: {
      template: {
        metadata: { annotations: Record<string, string> };
        spec: { containers: Array<{ name: string; args: string[]; env: Array<{ name: string; valueFrom: { fieldRef: { fieldPath: string } } }>; ports: Array<{ name: string; containerPort: number; protocol: string }> }> };
      };
    };
  }
  const patch = Bun.YAML.parse(read("kubernetes", "prometheus-patch.yaml")) as Patch;
  const daemonSet = Bun.YAML.parse(read("kubernetes", "http-statistics.yaml")) as { spec: { template: { spec: { containers: Array<{ name: string; args: string[] }> } } } };
  const container = patch.spec.template.spec.containers[0]!;
  const base = daemonSet.spec.template.spec.containers[0]!;

  test("patches the DaemonSet's container, keeping its socket, adding --listen on the node's address", () => {
    expect(container.name).toBe(base.name);
    expect(container.args.slice(0, base.args.length)).toEqual(base.args);
    expect(container.env).toEqual([{ name: "HOST_IP", valueFrom: { fieldRef: { fieldPath: "status.hostIP" } } }]);
    // Kubernetes expands $(HOST_IP) in args: both address families must parse.
    for (const [ip, hostname] of [["10.0.0.5", "10.0.0.5"], ["fd00::5", "fd00::5"]]) {
      const args = container.args.map((a) => a.replace("$(HOST_IP)", ip!));
      expect(parseArgs(args).listen).toEqual({ hostname: hostname!, port: 9847 });
    }
  });

  test("annotations, the listen port and the container port agree", () => {
    expect(patch.spec.template.metadata.annotations).toEqual({ "prometheus.io/scrape": "true", "prometheus.io/port": "9847", "prometheus.io/path": "/metrics" });
    expect(container.ports).toEqual([{ name: "metrics", containerPort: 9847, protocol: "TCP" }]);
  });
});
