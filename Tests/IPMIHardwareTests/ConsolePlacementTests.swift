import Foundation
import Testing

@testable import IPMIHardware

/// Which console proxy a node's console goes to (`[ipmi] console_proxy_urls`).
@Suite struct ConsolePlacementTests {
    static let proxies = (1...3).map { URL(string: "http://10.0.0.\($0):6387")! }
    static let nodes = (0..<300).map { _ in UUID().uuidString.lowercased() }

    @Test func consolesSpreadOverEveryProxy() async {
        let settings = IPMIProxyConsoleSettings(proxyURLs: Self.proxies)
        var counts: [URL: Int] = [:]
        for node in Self.nodes {
            let order = await settings.placementOrder(for: node)
            #expect(Set(order) == Set(Self.proxies), "every proxy is a candidate, once")
            #expect(order.count == Self.proxies.count)
            counts[order[0], default: 0] += 1
        }
        // 100 each on average; far below a third would mean a skewed hash.
        #expect(Self.proxies.allSatisfy { counts[$0, default: 0] >= 60 }, "\(counts)")
        #expect(await settings.placementOrder(for: Self.nodes[0]) == settings.placementOrder(for: Self.nodes[0].uppercased()))
    }

    @Test func removingAProxyMovesOnlyItsConsolesEachToItsNextChoice() async {
        let all = IPMIProxyConsoleSettings(proxyURLs: Self.proxies)
        let fewer = IPMIProxyConsoleSettings(proxyURLs: [Self.proxies[0], Self.proxies[2]])
        for node in Self.nodes {
            let before = await all.placementOrder(for: node)
            let after = await fewer.placementOrder(for: node)
            #expect(after == before.filter { $0 != Self.proxies[1] })
        }
    }

    @Test func theProxyAConsoleRanOnComesFirst() async {
        let settings = IPMIProxyConsoleSettings(proxyURLs: Self.proxies)
        let node = Self.nodes[0]
        let natural = await settings.placementOrder(for: node)
        let current = natural[2]
        #expect(await settings.placementOrder(for: node, current: current) == [current, natural[0], natural[1]])
        // A proxy no longer configured is not tried.
        let gone = URL(string: "http://10.0.0.9:6387")!
        #expect(await settings.placementOrder(for: node, current: gone) == natural)
    }

    @Test func withoutConfiguredProxiesTheLocalOneIsTheOnlyChoice() async {
        let local = URL(string: "http://127.0.0.1:40000")!
        #expect(await IPMIProxyConsoleSettings(localProxy: { local }).placementOrder(for: Self.nodes[0]) == [local])
        #expect(await IPMIProxyConsoleSettings().placementOrder(for: Self.nodes[0]).isEmpty)
        #expect(!IPMIProxyConsoleSettings(proxyURLs: [Self.proxies[0]]).hasAlternatives)
        #expect(IPMIProxyConsoleSettings(proxyURLs: Self.proxies).hasAlternatives)
    }
}
