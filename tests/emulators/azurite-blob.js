// Starts Azurite's blob service (the pinned one in node_modules/), answering a request that carries
// "Expect: 100-continue" and no body with its final response only, as HTTP allows (RFC 9110, 10.1.1).
// Node's server sends "100 Continue" first; the Azure C++ SDK inside pyarrow sometimes reads that and
// the final response, arriving in one packet, as an incomplete response, and retries the request
// about 7 s later (seen on the lease release that follows each blob deletion). Requests with a body
// still get "100 Continue": the SDK waits for it before sending the body.
// Arguments are Azurite's (azurite-blob --help).
"use strict";
const http = require("http");

const createServer = http.createServer;
http.createServer = function (...args) {
  const server = createServer.apply(this, args);
  server.on("checkContinue", (req, res) => {
    if (Number(req.headers["content-length"] || 0) > 0) {
      res.writeContinue();
    }
    server.emit("request", req, res);
  });
  return server;
};
require("./node_modules/azurite/dist/src/blob/main.js");
