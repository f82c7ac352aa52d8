import { expect, test } from "bun:test";
import { parseProcNetTcp, serverSideInodes } from "../../src/existing_connections";

const SAMPLE = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 1002 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:D431 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 1003 1 0000000000000000 20 4 30 10 -1
   3: 0100007F:1F91 0100007F:D432 06 00000000:00000000 00:00000000 00000000     0        0 0 1 0000000000000000 20 4 30 10 -1
`;

test("parses port, state and inode of each /proc/net/tcp row", () => {
  expect(parseProcNetTcp(SAMPLE)).toEqual([
    { localPort: 8080, state: "0A", inode: "1001" },
    { localPort: 8080, state: "01", inode: "1002" },
    { localPort: 54321, state: "01", inode: "1003" },
    { localPort: 8081, state: "06", inode: "0" },
  ]);
});

test("only established sockets on a listening port are the server side", () => {
  expect([...serverSideInodes(parseProcNetTcp(SAMPLE))]).toEqual(["1002"]);
});
