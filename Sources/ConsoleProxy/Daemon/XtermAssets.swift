import Foundation

/// xterm.js and its stylesheet from Debian's installed files (no CDN).
///
/// Debian 12's `libjs-xterm` ships `/usr/share/javascript/xterm/xterm.js` as a 288-byte stub
/// that `require`s CommonJS modules it does not ship; the modules themselves come with
/// `node-xterm` under `/usr/share/nodejs/xterm/lib`. When the browser build is such a stub,
/// the modules are wrapped once into one browser script with a minimal `require`. A real
/// browser build (other Debian releases) is served as it is.
struct XtermAssets: Sendable {
    /// The script, defining `window.Terminal`.
    let script: String
    /// The stylesheet.
    let stylesheet: String

    /// Loads from `browserDirectory` (libjs-xterm) or `moduleDirectory` (node-xterm).
    ///
    /// - Throws: `ProxyError.unavailable` naming the Debian packages to install.
    static func load(
        browserDirectory: String, moduleDirectory: String = "/usr/share/nodejs/xterm/lib"
    ) throws(ProxyError) -> XtermAssets {
        let manager = FileManager.default
        let cssCandidates = ["\(browserDirectory)/xterm.css", "\(moduleDirectory)/xterm.css"]
        guard let stylesheet = cssCandidates.lazy.compactMap({ try? String(contentsOfFile: $0, encoding: .utf8) }).first else {
            throw .unavailable("xterm.css not found in \(cssCandidates): install Debian's libjs-xterm.")
        }
        if let browser = try? String(contentsOfFile: "\(browserDirectory)/xterm.js", encoding: .utf8),
            !browser.contains("require(\"./public/Terminal\")")
        {
            return XtermAssets(script: browser, stylesheet: stylesheet)
        }
        guard let files = manager.enumerator(atPath: moduleDirectory)?.compactMap({ $0 as? String }) else {
            throw .unavailable("xterm.js modules not found in \(moduleDirectory): install Debian's node-xterm (and libjs-xterm).")
        }
        let modules = files.filter { $0.hasSuffix(".js") && !$0.hasSuffix(".test.js") }.sorted()
        guard modules.contains("public/Terminal.js") else {
            throw .unavailable("\(moduleDirectory)/public/Terminal.js is missing: install Debian's node-xterm.")
        }
        var script = """
            (function () {
              var definitions = {}, cache = {};
              function resolve(from, request) {
                var parts = from.split('/'); parts.pop();
                request.split('/').forEach(function (part) {
                  if (part === '..') parts.pop(); else if (part !== '.') parts.push(part);
                });
                var path = parts.filter(function (p) { return p.length > 0; }).join('/');
                return path.endsWith('.js') ? path : path + '.js';
              }
              function load(path) {
                if (cache[path]) return cache[path].exports;
                if (!definitions[path]) throw new Error('xterm module not found: ' + path);
                var module = { exports: {} };
                cache[path] = module;
                definitions[path](function (request) { return load(resolve(path, request)); }, module, module.exports);
                return module.exports;
              }

            """
        for module in modules {
            guard let source = try? String(contentsOfFile: "\(moduleDirectory)/\(module)", encoding: .utf8) else { continue }
            let body = source.replacingOccurrences(of: "//# sourceMappingURL=", with: "// source map: ")
            script += "definitions[\(jsString(module))] = function (require, module, exports) {\n\(body)\n};\n"
        }
        script += "window.Terminal = load('public/Terminal.js').Terminal;\n})();\n"
        return XtermAssets(script: script, stylesheet: stylesheet)
    }

    static func jsString(_ text: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: [text])) ?? Data("[\"\"]".utf8)
        return String(String(decoding: data, as: UTF8.self).dropFirst().dropLast())
    }
}
