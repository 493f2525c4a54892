// A scriptable socket.io-client for the Go tests: commands come in as JSON
// lines on stdin, everything the client sees goes out as JSON lines on stdout.
//
// Commands:
//   {"cmd":"connect","url":"http://127.0.0.1:PORT","query":{...},"auth":{...},"path":"/socket.io/"}
//   {"cmd":"emit","event":"code-update","arg":{...}}   ("args":[...] sends several arguments)
//   {"cmd":"disconnect"}
//   {"cmd":"exit"}
//
// Output:
//   {"event":"connect","id":"..."}
//   {"event":"connect_error","message":"...","data":{...}}
//   {"event":"disconnect","reason":"...","description":"..."}
//   {"event":"<server event>","arg":<first argument>,"args":[...]}
//   {"event":"harness_error","message":"..."}   (a bad command; the driver keeps going)
//
// The process exits cleanly on {"cmd":"exit"} or when stdin closes.
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

let socket = null;

// out writes one line; stdout to a pipe is synchronous on Linux and macOS, so
// each line reaches the test at once, never held in a buffer.
function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function describe(d) {
  if (d === undefined || d === null) return undefined;
  if (typeof d === "string") return d;
  if (d.message) return String(d.message);
  return String(d);
}

function connect(cmd) {
  if (socket) {
    socket.removeAllListeners();
    socket.offAny();
    socket.disconnect();
  }
  const opts = {
    transports: ["websocket"],
    reconnection: false,
    forceNew: true,
    timeout: cmd.timeout ?? 10000,
  };
  if (cmd.query) opts.query = cmd.query;
  if (cmd.auth) opts.auth = cmd.auth;
  if (cmd.path) opts.path = cmd.path;
  const s = io(cmd.url, opts);
  socket = s;
  s.on("connect", () => out({ event: "connect", id: s.id }));
  s.on("connect_error", (err) =>
    out({
      event: "connect_error",
      message: err?.message ?? String(err),
      data: err?.data ?? null,
      description: describe(err?.description),
    }),
  );
  s.on("disconnect", (reason, details) =>
    out({ event: "disconnect", reason, description: describe(details?.description ?? details) }),
  );
  s.onAny((event, ...args) => out({ event, arg: args.length ? args[0] : null, args }));
}

function handle(line) {
  if (line.trim() === "") return;
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (err) {
    out({ event: "harness_error", message: `bad command line: ${err.message}` });
    return;
  }
  switch (cmd.cmd) {
    case "connect":
      connect(cmd);
      break;
    case "emit":
      if (!socket) {
        out({ event: "harness_error", message: "emit before connect" });
        return;
      }
      if (Array.isArray(cmd.args)) socket.emit(cmd.event, ...cmd.args);
      else socket.emit(cmd.event, cmd.arg);
      break;
    case "disconnect":
      if (socket) socket.disconnect();
      break;
    case "exit":
      shutdown(0);
      break;
    default:
      out({ event: "harness_error", message: `unknown command ${JSON.stringify(cmd.cmd)}` });
  }
}

function shutdown(code) {
  if (socket) {
    socket.removeAllListeners();
    socket.offAny();
    socket.disconnect();
    socket = null;
  }
  // A moment for the DISCONNECT packet and the WebSocket close frame to leave.
  setTimeout(() => process.exit(code), 50);
}

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on("line", (line) => {
  try {
    handle(line);
  } catch (err) {
    out({ event: "harness_error", message: String(err?.stack ?? err) });
  }
});
rl.on("close", () => shutdown(0));
