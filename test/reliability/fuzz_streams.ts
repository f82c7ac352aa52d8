/**
 * Streams for the differential fuzzer: valid HTTP/1.x messages, then
 * mutated. Deterministic from a seed, so a stream is named by its index and
 * can be replayed byte for byte.
 */

export interface FuzzStream {
  index: number;
  kind: string;
  bytes: Buffer;
  /** Write boundaries (offsets into bytes); each piece is its own send, with a pause between. */
  splits: number[];
}

/** mulberry32: small, seedable, good enough to pick mutations. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"];
const TOKEN = "abcdefghijklmnopqrstuvwxyz0123456789-";

function pick<T>(rand: () => number, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)]!;
}

function text(rand: () => number, length: number, alphabet = TOKEN): string {
  let out = "";
  for (let i = 0; i < length; i++) out += alphabet[Math.floor(rand() * alphabet.length)];
  return out;
}

/** One valid request: random method, path, version, header count and sizes, and a body framed by length or chunks. */
function validRequest(rand: () => number): string {
  const method = pick(rand, METHODS);
  const version = rand() < 0.2 ? "HTTP/1.0" : "HTTP/1.1";
  const headers = [`Host: h${text(rand, 3)}`];
  const extra = Math.floor(rand() * 6);
  for (let i = 0; i < extra; i++) headers.push(`X-${text(rand, 1 + Math.floor(rand() * 10))}: ${text(rand, Math.floor(rand() * (rand() < 0.1 ? 6000 : 60)), `${TOKEN} ,;=/`)}`);
  if (version === "HTTP/1.0") headers.push("Connection: keep-alive");
  let body = "";
  if (method === "POST" || method === "PUT" || method === "PATCH") {
    const payload = text(rand, Math.floor(rand() * 3000), `${TOKEN}\r\n GET HTTP/1.1 200`);
    if (version === "HTTP/1.1" && rand() < 0.4) {
      headers.push("Transfer-Encoding: chunked");
      let rest = payload;
      while (rest.length) {
        const n = Math.min(rest.length, 1 + Math.floor(rand() * 700));
        body += `${n.toString(16)}\r\n${rest.slice(0, n)}\r\n`;
        rest = rest.slice(n);
      }
      body += "0\r\n\r\n";
    } else {
      headers.push(`Content-Length: ${payload.length}`);
      body = payload;
    }
  }
  return `${method} /${text(rand, Math.floor(rand() * 40), `${TOKEN}/?=&`)} ${version}\r\n${headers.join("\r\n")}\r\n\r\n${body}`;
}

const JUNK = ["\r\n", "\r\n\r\n", " ", "xyz\r\n", "\x00\x01\x02", "HTTP/1.1 200 OK\r\n\r\n", "GET", "\n", "G\r\nET / HTTP/1.1\r\n\r\n"];

type Mutation = (rand: () => number, messages: string[]) => { kind: string; stream: string; splits?: "every-byte" | "random" };

/** Each mutation turns a list of valid messages into one connection's bytes. */
const MUTATIONS: Mutation[] = [
  (_r, m) => ({ kind: "valid, pipelined", stream: m.join("") }),
  (r, m) => ({ kind: "valid, split at random bytes", stream: m.join(""), splits: "random" }),
  // Short whole messages (a byte per send costs a millisecond each).
  (r) => ({ kind: "valid, split at every byte", stream: Array.from({ length: 1 + Math.floor(r() * 3) }, () => `${pick(r, ["GET", "HEAD", "DELETE"])} /${text(r, Math.floor(r() * 20))} HTTP/1.1\r\nHost: h\r\nX-${text(r, 3)}: ${text(r, Math.floor(r() * 40))}\r\n\r\n`).join(""), splits: "every-byte" }),
  (r, m) => {
    const at = 1 + Math.floor(r() * (m.length - 1 || 1));
    return { kind: "junk between messages", stream: [...m.slice(0, at), pick(r, JUNK), ...m.slice(at)].join("") };
  },
  (r, m) => {
    const all = m.join("");
    return { kind: "truncated connection", stream: all.slice(0, Math.max(1, Math.floor(r() * all.length))) };
  },
  (r, m) => {
    const bad = pick(r, ["Content-Length: -1", "Content-Length: abc", "Content-Length: 99999999999999999999", "Content-Length: 5\r\nContent-Length: 6", "Content-Length: 3\r\nTransfer-Encoding: chunked", "Content-Length: 0x10", "Content-Length: 1 2"]);
    const body = "hello";
    return { kind: "bad length", stream: `POST /x HTTP/1.1\r\nHost: a\r\n${bad}\r\n\r\n${body}${m.join("")}` };
  },
  (r, m) => {
    const short = 1 + Math.floor(r() * 4);
    return { kind: "Content-Length shorter than the body", stream: `POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: ${short}\r\n\r\nabcdefgh\r\n${m.join("")}` };
  },
  (r, m) => ({ kind: "Content-Length longer than the body", stream: `${m.join("")}POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: ${100 + Math.floor(r() * 1000)}\r\n\r\nshort` }),
  (r, m) => {
    const bad = pick(r, ["GET / HTTP/1.1\r\nBad Header\r\n\r\n", "GET / HTTP/1.1\r\nHost a\r\n\r\n", "GET / HTTP/2.0\r\n\r\n", "get / HTTP/1.1\r\n\r\n", "GET /  HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\rHost: a\r\n\r\n", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "GET / HTTP/1.1\r\nX: \x01\r\n\r\n"]);
    return { kind: "malformed message after valid ones", stream: `${m.join("")}${bad}` };
  },
  (r, m) => {
    const all = m.join("");
    const at = Math.floor(r() * all.length);
    return { kind: "one byte flipped", stream: `${all.slice(0, at)}${String.fromCharCode(Math.floor(r() * 256))}${all.slice(at + 1)}` };
  },
];

export function fuzzStreams(seed: number, count: number): FuzzStream[] {
  const rand = random(seed);
  return Array.from({ length: count }, (_, index) => {
    const messages = Array.from({ length: 1 + Math.floor(rand() * 6) }, () => validRequest(rand));
    const { kind, stream, splits } = MUTATIONS[index % MUTATIONS.length]!(rand, messages);
    const bytes = Buffer.from(stream, "latin1");
    let points: number[] = [];
    if (splits === "every-byte") points = Array.from({ length: bytes.length - 1 }, (_, i) => i + 1);
    else if (splits === "random") points = [...new Set(Array.from({ length: 1 + Math.floor(rand() * 8) }, () => 1 + Math.floor(rand() * (bytes.length - 1))))].sort((a, b) => a - b);
    return { index, kind, bytes, splits: points };
  });
}
