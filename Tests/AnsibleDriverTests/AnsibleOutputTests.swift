import AnsibleDrivers
import ChildProcesses
import Core
import Foundation
import Testing

/// The outcome of each host, read from what ansible-playbook prints.
@Suite("ansible-playbook output")
struct AnsibleOutputTests {
    /// Real output of ansible-core 2.19 (`ANSIBLE_NOCOLOR=1`, default callback) for four hosts:
    /// `b` fails a task, `c` fails a loop whose errors are ignored, `d` is unreachable.
    static let captured = #"""

        PLAY [conductor] ***************************************************************

        TASK [Add the nodes] ***********************************************************
        changed: [conductor] => (item={'name': 'a'})
        changed: [conductor] => (item={'name': 'b'})
        changed: [conductor] => (item={'name': 'c'})
        changed: [conductor] => (item={'name': 'd'})

        PLAY [ironic] ******************************************************************

        TASK [Say hello] ***************************************************************
        ok: [a] => {
            "msg": "hello a"
        }
        ok: [b] => {
            "msg": "hello b"
        }
        ok: [c] => {
            "msg": "hello c"
        }
        ok: [d] => {
            "msg": "hello d"
        }

        TASK [Write the image] *********************************************************
        skipping: [a]
        skipping: [c]
        skipping: [d]
        [ERROR]: Task failed: Action failed: disk on fire on b
        Origin: /tmp/ansplay/play.yaml:18:7

        16       debug:
        17         msg: "hello {{ inventory_hostname }}"
        18     - name: Write the image
                 ^ column 7

        fatal: [b]: FAILED! => {"changed": false, "msg": "disk on fire on b"}

        TASK [Loop items] **************************************************************
        skipping: [a] => (item=1) 
        skipping: [a] => (item=2) 
        skipping: [a]
        skipping: [d] => (item=1) 
        skipping: [d] => (item=2) 
        skipping: [d]
        [ERROR]: Task failed: Module failed: non-zero return code
        Origin: /tmp/ansplay/play.yaml:22:7

        20         msg: "disk on fire on {{ inventory_hostname }}"
        21       when: inventory_hostname == 'b'
        22     - name: Loop items
                 ^ column 7

        failed: [c] (item=1) => {"ansible_loop_var": "item", "changed": true, "cmd": ["false"], "delta": "0:00:00.007604", "end": "2026-12-04 02:46:01.588560", "item": 1, "msg": "non-zero return code", "rc": 1, "start": "2026-12-04 02:46:01.580956", "stderr": "", "stderr_lines": [], "stdout": "", "stdout_lines": []}
        failed: [c] (item=2) => {"ansible_loop_var": "item", "changed": true, "cmd": ["false"], "delta": "0:00:00.004166", "end": "2026-12-04 02:46:01.834757", "item": 2, "msg": "non-zero return code", "rc": 1, "start": "2026-12-04 02:46:01.830591", "stderr": "", "stderr_lines": [], "stdout": "", "stdout_lines": []}
        ...ignoring

        TASK [Unreachable] *************************************************************
        skipping: [a]
        skipping: [c]
        [ERROR]: Task failed: Failed to connect to the host via ssh: ssh: connect to host 127.0.0.1 port 1: Connection refused
        Origin: /tmp/ansplay/play.yaml:27:7

        25       when: inventory_hostname == 'c'
        26       ignore_errors: true
        27     - name: Unreachable
                 ^ column 7

        fatal: [d]: UNREACHABLE! => {"changed": false, "msg": "Task failed: Failed to connect to the host via ssh: ssh: connect to host 127.0.0.1 port 1: Connection refused", "unreachable": true}

        PLAY RECAP *********************************************************************
        a                          : ok=1    changed=0    unreachable=0    failed=0    skipped=3    rescued=0    ignored=0   
        b                          : ok=1    changed=0    unreachable=0    failed=1    skipped=0    rescued=0    ignored=0   
        c                          : ok=2    changed=1    unreachable=0    failed=0    skipped=2    rescued=0    ignored=1   
        conductor                  : ok=1    changed=1    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0   
        d                          : ok=1    changed=0    unreachable=1    failed=0    skipped=2    rescued=0    ignored=0   


        """#

    @Test func capturedOutputGivesEachHostItsOutcome() {
        let output = AnsiblePlaybookOutput(parsing: Self.captured)
        #expect(output.recap["a"]?.succeeded == true)
        #expect(output.recap["a"]?.skipped == 3)
        #expect(output.recap["b"]?.failed == 1)
        #expect(output.failures["b"]?.task == "Write the image")
        #expect(output.failures["b"]?.message == "disk on fire on b")
        #expect(output.failures["b"]?.description == "Ansible task 'Write the image' failed on node: disk on fire on b")
        #expect(output.recap["c"]?.succeeded == true, "ignored failures do not fail a host")
        #expect(output.recap["c"]?.ignored == 1)
        #expect(output.failures["c"] == nil, "...ignoring drops the loop's failures")
        #expect(output.recap["d"]?.unreachable == 1)
        #expect(output.recap["d"]?.succeeded == false)
        #expect(output.failures["d"]?.unreachable == true)
        #expect(output.failures["d"]?.task == "Unreachable")
        #expect(output.failures["d"]?.description.contains("host unreachable: Task failed: Failed to connect to the host via ssh") == true)
        #expect(output.recap["conductor"]?.changed == 1)
        #expect(output.recap.count == 5)
    }

    /// The same parse over output the installed ansible-playbook prints now, at the default
    /// verbosity and at -vvv (where results span several lines).
    @Test(arguments: [0, 3])
    func liveOutputGivesEachHostItsOutcome(verbosity: Int) async throws {
        let script = try AnsibleTool.playbookScript()
        let lab = try PlaybookLab()
        let vars = JSONValue.object([
            "ironic": .object([
                "nodes": .array(["a", "b", "c"].map { AnsibleExtraVars.host(uuid: $0, ip: "127.0.0.1", user: "u", extra: [:], port: 22) })
            ])
        ])
        try lab.write("vars.json", vars.serialized())
        let log = "\(lab.directory)/out.log"
        var arguments = ["\(lab.directory)/deploy.yaml", "-i", "\(lab.directory)/inventory", "-e", "@\(lab.directory)/vars.json"]
        if verbosity > 0 { arguments.append("-" + String(repeating: "v", count: verbosity)) }
        var environment = ProcessInfo.processInfo.environment
        environment["ANSIBLE_NOCOLOR"] = "1"
        environment["ANSIBLE_STDOUT_CALLBACK"] = "default"
        environment["ANSIBLE_CONFIG"] = "\(lab.directory)/ansible.cfg"
        let child = try ChildProcess(script, arguments, environment: environment, output: .file(log))
        while child.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        let text = try String(contentsOfFile: log, encoding: .utf8)
        #expect(child.waitUntilExit() == 2, "\(text)")

        let output = AnsiblePlaybookOutput(parsing: text)
        #expect(output.recap["a"]?.succeeded == true, "\(text)")
        #expect(output.recap["c"]?.succeeded == true)
        #expect(output.recap["b"]?.failed == 1)
        #expect(output.failures["b"]?.description == "Ansible task 'Write the image' failed on node: disk on fire on b", "\(text)")
        #expect(output.failures["a"] == nil)
    }

    @Test func aRunWithoutRecapReportsNoHost() {
        let output = AnsiblePlaybookOutput(parsing: "ERROR! the playbook: /nowhere/deploy.yaml could not be found\n")
        #expect(output.recap.isEmpty)
        #expect(output.failures.isEmpty)
    }

    @Test func delegatedAndLoopFailuresAreTheirHostsAndTheFirstItemExplains() {
        let text = """
            TASK [clean : wipe] ************************************************************
            failed: [n1] (item=sda) => {"ansible_loop_var": "item", "changed": true, "item": "sda", "msg": "non-zero return code", "rc": 1, "stderr": "wipefs: sda: probing failed"}
            failed: [n1] (item=sdb) => {"ansible_loop_var": "item", "changed": true, "item": "sdb", "msg": "non-zero return code", "rc": 1, "stderr": "other"}

            TASK [remove configdrive from conductor] ***************************************
            fatal: [n2 -> conductor]: FAILED! => {"changed": false, "msg": "rm: denied"}

            PLAY RECAP *********************************************************************
            n1                         : ok=0    changed=0    unreachable=0    failed=1    skipped=0    rescued=0    ignored=0
            n2                         : ok=3    changed=1    unreachable=0    failed=1    skipped=0    rescued=0    ignored=0
            """
        let output = AnsiblePlaybookOutput(parsing: text)
        #expect(
            output.failures["n1"]?.description
                == "Ansible task 'clean : wipe' failed on node: non-zero return code: wipefs: sda: probing failed (item=sda)")
        #expect(output.failures["n2"]?.description == "Ansible task 'remove configdrive from conductor' failed on node: rm: denied")
    }
}
