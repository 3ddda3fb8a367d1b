// The real socket.io client against edgestat's hub, for TestSocketIOClient.
//
// Usage: node client.mjs URL COUNT
//
// Connects with the websocket transport, prints "connected" once the
// namespace is joined, collects COUNT stats_raw and COUNT stats payloads,
// prints {"stats_raw":[...],"stats":[...]} as one JSON line and exits 0.
// A connect error, a disconnect or 20 s without finishing exits 1.
import { io } from "socket.io-client";

const [url, countArg] = process.argv.slice(2);
const count = Number(countArg);
if (!url || !Number.isInteger(count) || count < 0) {
  console.error("usage: node client.mjs URL COUNT");
  process.exit(2);
}

const got = { stats_raw: [], stats: [] };
let done = false;

function fail(msg) {
  if (done) return;
  done = true;
  console.error(msg);
  process.exit(1);
}

const timer = setTimeout(
  () => fail(`timeout: ${got.stats_raw.length} stats_raw and ${got.stats.length} stats of ${count}`),
  20000,
);

const socket = io(url, { transports: ["websocket"], reconnection: false });

socket.on("connect", () => console.log("connected"));
socket.on("connect_error", (err) => fail(`connect_error: ${err.message}`));
socket.on("disconnect", (reason) => fail(`disconnected: ${reason}`));

function collect(event) {
  return (payload) => {
    got[event].push(payload);
    if (done || got.stats_raw.length < count || got.stats.length < count) return;
    done = true;
    clearTimeout(timer);
    socket.close();
    process.stdout.write(JSON.stringify(got) + "\n", () => process.exit(0));
  };
}
socket.on("stats_raw", collect("stats_raw"));
socket.on("stats", collect("stats"));
