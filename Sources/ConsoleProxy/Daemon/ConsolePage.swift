import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// The console page: `GET /consoles/{id}?token=...` attaches xterm.js to the console's
/// WebSocket. The page needs the console's token (not the API credentials), so a conductor
/// can hand the URL to an operator.
enum ConsolePage {
    static func addRoutes(to router: Router<BasicRequestContext>, supervisor: ConsoleSupervisor, config: ProxyConfig) {
        let assets = Mutex<XtermAssets?>(nil)
        @Sendable func loadAssets() throws -> XtermAssets {
            if let loaded = assets.withLock({ $0 }) { return loaded }
            let loaded = try XtermAssets.load(browserDirectory: config.xtermDirectory)
            assets.withLock { $0 = loaded }
            return loaded
        }
        router.get("/static/xterm.js") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/javascript; charset=utf-8", .cacheControl: "max-age=3600"],
                body: .init(byteBuffer: ByteBuffer(string: try loadAssets().script)))
        }
        router.get("/static/xterm.css") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/css; charset=utf-8", .cacheControl: "max-age=3600"],
                body: .init(byteBuffer: ByteBuffer(string: try loadAssets().stylesheet)))
        }
        router.get("/consoles/:id") { request, context in
            let id = try context.parameters.require("id")
            guard let info = supervisor.pageInfo(id) else { throw ProxyError.notFound(id) }
            guard let token = request.uri.queryParameters.get("token"), TokenCheck.matches(String(token), info.token) else {
                throw ProxyError(status: 401, message: "A valid console token is required (the `token` of the console's endpoints).")
            }
            let html = render(nodeUUID: info.nodeUUID, webPort: info.webPort, token: info.token, secure: config.certFile != nil)
            return Response(
                status: .ok,
                headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store", HTTPField.Name("Referrer-Policy")!: "no-referrer"],
                body: .init(byteBuffer: ByteBuffer(string: html)))
        }
    }

    static func render(nodeUUID: String, webPort: Int, token: String, secure: Bool) -> String {
        """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <title>Console of node \(nodeUUID)</title>
        <link rel="stylesheet" href="/static/xterm.css">
        <style>
          body { margin: 0; background: #111; color: #ddd; font-family: sans-serif; }
          header { padding: 6px 10px; font-size: 14px; }
          #terminal { padding: 4px; }
        </style>
        </head>
        <body data-state="connecting">
        <header>Node <code>\(nodeUUID)</code> · <span id="status">connecting…</span></header>
        <div id="terminal"></div>
        <script src="/static/xterm.js"></script>
        <script>
        (function () {
          var status = document.getElementById('status');
          function setState(state, text) { document.body.dataset.state = state; status.textContent = text; }
          var term = new Terminal({ cols: 100, rows: 30, scrollback: 5000 });
          term.open(document.getElementById('terminal'));
          window.consoleTerminal = term;
          // The text the terminal shows, line by line (used by operators' scripts and tests).
          window.consoleText = function () {
            var lines = [];
            // xterm.js 4 and later: the public buffer API.
            var active = term.buffer && term.buffer.active;
            if (active && active.getLine) {
              for (var j = 0; j < active.length; j++) {
                var row = active.getLine(j);
                lines.push(row ? row.translateToString(true) : '');
              }
              return lines.join('\\n');
            }
            // xterm.js 3 (Debian 12's node-xterm 3.8): the core's buffer.
            var buffer = term._core ? term._core.buffer : term.buffer;
            if (buffer && buffer.lines) {
              for (var i = 0; i < buffer.lines.length; i++) {
                if (buffer.translateBufferLineToString) {
                  lines.push(buffer.translateBufferLineToString(i, true));
                } else {
                  var line = buffer.lines.get(i);
                  lines.push(line && line.translateToString ? line.translateToString(true) : '');
                }
              }
            }
            return lines.join('\\n');
          };
          var scheme = (\(secure ? "true" : "false") || location.protocol === 'https:') ? 'wss' : 'ws';
          var socket = new WebSocket(scheme + '://' + location.hostname + ':\(webPort)/ws?token=\(token)');
          socket.binaryType = 'arraybuffer';
          var decoder = new TextDecoder('utf-8');
          var encoder = new TextEncoder();
          socket.onopen = function () { setState('connected', 'connected'); term.focus(); };
          socket.onclose = function () { setState('closed', 'disconnected'); };
          socket.onerror = function () { setState('error', 'connection error'); };
          socket.onmessage = function (event) {
            term.write(typeof event.data === 'string' ? event.data : decoder.decode(new Uint8Array(event.data), { stream: true }));
          };
          var send = function (data) { if (socket.readyState === 1) socket.send(encoder.encode(data)); };
          if (term.onData) { term.onData(send); } else { term.on('data', send); }
        })();
        </script>
        </body>
        </html>
        """
    }
}
