/**
 * The checks the real Scope probe applies to a plugin's report
 * (shared/PROTOCOL.md), as one function that returns every violation.
 */

export const PLUGIN_ID_PATTERN = /^[A-Za-z0-9]+(-[A-Za-z0-9]+)*$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
/** Scope's report.Report JSON field names. */
const REPORT_FIELDS = new Set([
  "ID", "Endpoint", "Process", "Container", "ContainerImage", "Pod", "Service", "Deployment", "ReplicaSet",
  "DaemonSet", "StatefulSet", "CronJob", "Namespace", "Host", "Overlay", "Swarm", "SwarmService",
  "PersistentVolume", "PersistentVolumeClaim", "StorageClass", "VolumeSnapshot", "VolumeSnapshotData", "Job",
  "Plugins", "Window", "Shortcut",
]);
const TOPOLOGY_FIELDS = new Set(["shape", "tag", "label", "labelPlural", "nodes", "controls", "metadata_templates", "metric_templates", "table_templates"]);
const METRIC_FORMATS = new Set(["", "integer", "percent", "filesize"]);

export interface ProtocolContext {
  /** Base name of the socket without extension. */
  pluginId: string;
  hostId: string;
}

export function protocolViolations(report: unknown, ctx: ProtocolContext): string[] {
  const v: string[] = [];
  if (typeof report !== "object" || report === null || Array.isArray(report)) return ["report is not a JSON object"];
  const r = report as Record<string, unknown>;
  for (const key of Object.keys(r)) if (!REPORT_FIELDS.has(key)) v.push(`unknown top-level key ${key}`);

  const plugins = r.Plugins;
  if (!Array.isArray(plugins) || plugins.length !== 1) v.push(`Plugins must hold exactly one spec, has ${Array.isArray(plugins) ? plugins.length : "none"}`);
  else {
    const spec = plugins[0] as Record<string, unknown>;
    if (spec.id !== ctx.pluginId) v.push(`plugin id ${String(spec.id)} differs from the socket's ${ctx.pluginId}`);
    if (!PLUGIN_ID_PATTERN.test(String(spec.id))) v.push(`plugin id ${String(spec.id)} is not a valid id`);
    if (spec.api_version !== "1") v.push(`api_version must be "1"`);
    if (typeof spec.label !== "string" || spec.label === "") v.push("label is required");
    if (!Array.isArray(spec.interfaces) || !spec.interfaces.includes("reporter")) v.push("interfaces must include reporter");
    if (Array.isArray(spec.interfaces) && spec.interfaces.includes("controller")) v.push("a reporter-only plugin must not list controller");
  }

  for (const [name, value] of Object.entries(r)) {
    if (name === "Plugins" || name === "ID" || name === "Window" || name === "Shortcut") continue;
    const topology = value as Record<string, unknown>;
    for (const key of Object.keys(topology)) if (!TOPOLOGY_FIELDS.has(key)) v.push(`${name}: unknown topology key ${key}`);
    const templates = (topology.metric_templates ?? {}) as Record<string, Record<string, unknown>>;
    for (const [id, t] of Object.entries(templates)) {
      if (t.id !== id) v.push(`${name}: metric template ${id} carries id ${String(t.id)}`);
      if (typeof t.label !== "string" || !t.label) v.push(`${name}: metric template ${id} has no label`);
      if (t.format !== undefined && !METRIC_FORMATS.has(String(t.format))) v.push(`${name}: metric template ${id} has format ${String(t.format)}`);
      if (typeof t.priority !== "number") v.push(`${name}: metric template ${id} has no numeric priority`);
    }
    const nodes = (topology.nodes ?? {}) as Record<string, Record<string, unknown>>;
    for (const [key, node] of Object.entries(nodes)) {
      if (node.id !== key) v.push(`${name}: node ${key} must carry "id" equal to its key`);
      if (name === "Process" && !new RegExp(`^${ctx.hostId.replace(/[.]/g, "\\.")};\\d+$`).test(key))
        v.push(`Process node ${key} is not <hostID>;<pid> for host ${ctx.hostId}`);
      const metrics = (node.metrics ?? {}) as Record<string, { samples?: unknown; min?: unknown; max?: unknown }>;
      for (const [id, metric] of Object.entries(metrics)) {
        if (!(id in templates)) v.push(`${name} ${key}: metric ${id} has no template`);
        if (!Array.isArray(metric.samples) || metric.samples.length === 0) {
          v.push(`${name} ${key}: metric ${id} has no samples`);
          continue;
        }
        if (typeof metric.min !== "number" || typeof metric.max !== "number") v.push(`${name} ${key}: metric ${id} lacks min/max`);
        for (const s of metric.samples as Array<{ date: unknown; value: unknown }>) {
          if (typeof s.date !== "string" || !RFC3339.test(s.date)) v.push(`${name} ${key}: metric ${id} date ${String(s.date)} is not RFC3339`);
          if (typeof s.value !== "number") v.push(`${name} ${key}: metric ${id} value is not a number`);
          else if (s.value < (metric.min as number) || s.value > (metric.max as number))
            v.push(`${name} ${key}: metric ${id} value ${s.value} outside [min, max]`);
        }
      }
    }
  }
  return v;
}
