// An outside client of the sandbox's WebSocket, for tests/test_sandbox_websocket_sdk.py:
// Euler's SDK (@eulerstream/euler-websocket-sdk) builds the URL and names the close codes,
// the ws package connects, and every message is checked against the SDK's v2 schema
// (member names and JSON types of TikTok's messages, as its decoders define them).
//
//   EULER_WS_URL=ws://127.0.0.1:8000/sandbox/ws node euler_client.js connect \
//       <uniqueId> <apiKey|jwt:TOKEN> [seconds]
//     prints one JSON line per event: {"event": "open"}, {"event": "frame", "frame",
//     "problems"}, {"event": "close", "code", "name", "reason"}; exits after the close
//     (or after [seconds], default 20, closing normally).
//   node euler_client.js check < messages.json
//     prints {"problems": [...]} for a JSON list of {"type", "data"} messages.

"use strict";

const mode = process.argv[2];
const sdk = require("@eulerstream/euler-websocket-sdk");

const schema = sdk.WebcastSchemas[sdk.SchemaVersion.v2];
// Which schema message each nested member is (the rest are checked by name and type only).
const NESTED = {
  common: "CommonMessageData", user: "User", toUser: "User", operator: "User",
  giftDetails: "Gift", profilePicture: "Image", giftImage: "Image", displayText: "Text",
  userIdentity: "WebcastChatMessage_UserIdentity",
};

function conforms(name, data, path, problems) {
  const decoder = schema[`${name}Decoder`];
  if (!decoder) {
    problems.push(`${path}: no ${name} in the SDK's schema`);
    return;
  }
  const base = decoder.decode(new Uint8Array(0)); // every member, at its default
  for (const [key, value] of Object.entries(data)) {
    const where = `${path}.${key}`;
    if (!(key in base)) {
      problems.push(`${where}: not a member of ${name}`);
    } else if (value === null || value === undefined) {
      problems.push(`${where}: null`);
    } else if (Array.isArray(base[key]) !== Array.isArray(value)) {
      problems.push(`${where}: list expected to be ${Array.isArray(base[key])}`);
    } else if (base[key] !== undefined && !Array.isArray(value) &&
               typeof base[key] !== typeof value) {
      problems.push(`${where}: ${typeof value}, the schema says ${typeof base[key]}`);
    } else if (base[key] === undefined && typeof value === "object" && NESTED[key]) {
      conforms(NESTED[key], value, where, problems);
    }
  }
}

function check(message) {
  const problems = [];
  if (typeof message.type !== "string" || typeof message.data !== "object") {
    return ["not a {type, data} message"];
  }
  if (message.type.startsWith("Webcast")) {
    conforms(message.type, message.data, message.type, problems);
  }
  return problems;
}

function say(line) {
  process.stdout.write(JSON.stringify(line) + "\n");
}

if (mode === "check") {
  let input = "";
  process.stdin.on("data", (chunk) => { input += chunk; });
  process.stdin.on("end", () => {
    say({ problems: JSON.parse(input).flatMap(check) });
  });
} else if (mode === "connect") {
  const WebSocket = require("ws");
  const [uniqueId, auth, seconds] = process.argv.slice(3);
  const options = { uniqueId, features: { bundleEvents: true, schemaVersion: "v2" } };
  if (auth.startsWith("jwt:")) {
    options.jwtKey = auth.slice(4);
  } else {
    options.apiKey = auth;
  }
  const socket = new WebSocket(sdk.createWebSocketUrl(options));
  const timer = setTimeout(() => socket.close(sdk.ClientCloseCode.NORMAL),
                           1000 * Number(seconds || 20));
  socket.on("open", () => say({ event: "open" }));
  socket.on("message", (raw) => {
    const frame = JSON.parse(raw.toString());
    const problems = [];
    if (typeof frame.timestamp !== "number" || !Array.isArray(frame.messages)) {
      problems.push("not a ClientMessageBundle");
    } else {
      frame.messages.forEach((message) => problems.push(...check(message)));
    }
    say({ event: "frame", frame, problems });
  });
  socket.on("close", (code, reason) => {
    clearTimeout(timer);
    say({ event: "close", code, name: sdk.ClientCloseCode[code] || null,
          reason: reason.toString(), known: sdk.CloseMessageMap[code] || null });
  });
  socket.on("error", (error) => say({ event: "error", message: String(error.message) }));
} else {
  process.stderr.write("usage: euler_client.js connect|check ...\n");
  process.exit(2);
}
