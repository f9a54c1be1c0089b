/**
 * The hub's `GET /metrics` against a real nats-server: after events published as agents do, the
 * exposition holds the fleet gauges, the hub's event counters and tally's families; promtool
 * parses it (only the lint remarks about tally's counters without `_total` are accepted); a
 * restarted hub continues the counters, equal to a hub that rebuilt them from the whole stream.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import {
  lifecycleEvent,
  type LifecycleKind,
  type NagiosStatus,
  type ScoutEvent,
  scoutSubject,
  transitionEvent,
} from "../src/events.ts";
import { type HubHandle, startHub } from "../src/hub/mod.ts";
import { nullLogger } from "../src/runtime/mod.ts";
import { type Broker, connectBroker } from "../src/transport/mod.ts";
import { SKIP_NATS, startTestBroker } from "./_nats.ts";
import {
  assertParses,
  promtoolCheck,
  requirePromtool,
  SKIP_PROMTOOL,
  warnIfNoPromtool,
} from "./_promtool.ts";
import { testNagios, testRef } from "./_events.ts";
import { waitUntil } from "./_wait.ts";

warnIfNoPromtool("hub_metrics_test");

/** tally's counters keep tally's names, without `_total`; promtool remarks on that. */
const ACCEPTED_LINT = [
  /^choria_tally_(good_events|process_errors|event_types|machine_transition) counter metrics should have "_total" suffix$/,
];

let n = 0;
const ref = testRef;
const meta = () => ({ eventId: crypto.randomUUID(), timeMs: Date.now() });

function nagios(identity: string, machine: string, status: NagiosStatus): ScoutEvent {
  return testNagios(identity, machine, status);
}

const transition = (identity: string, machine: string, from: string, to: string) =>
  transitionEvent(ref(identity, machine), { transition: to.toLowerCase(), from, to }, meta());

const life = (kind: LifecycleKind, identity: string, version: string) =>
  lifecycleEvent({ kind, identity, component: "scout", version }, meta());

async function send(b: Broker, ev: ScoutEvent, asIdentity = ev.subject): Promise<void> {
  n++;
  await b.stream.publish(
    scoutSubject(asIdentity, ev),
    new TextEncoder().encode(JSON.stringify(ev)),
    { msgId: ev.id },
  );
}

async function getMetrics(hub: HubHandle): Promise<string> {
  const res = await fetch(`${hub.url}/metrics`);
  equal(res.status, 200);
  ok(res.headers.get("content-type")?.startsWith("text/plain; version=0.0.4"));
  return await res.text();
}

Deno.test({
  name: "hub: GET /metrics has fleet, hub and tally series, parses with promtool, survives restart",
  ignore: SKIP_NATS,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "scout-hub-metrics-" });
    const { server, brokerOpts } = await startTestBroker(dir, "scout-hub-metrics-test");
    const hubOpts = {
      broker: brokerOpts,
      listen: "127.0.0.1:0",
      staleAfterMs: 60_000,
      stateDir: `${dir}/state`,
      logger: nullLogger,
      batch: 3,
    };
    const agent = await connectBroker({ ...brokerOpts, name: "fake-agent" });
    let hub: HubHandle | null = await startHub(hubOpts);
    try {
      await send(agent, life("startup", "web1.example", "0.9.0"));
      await send(agent, life("alive", "db1.example", "0.9.0"));
      await send(agent, transition("web1.example", "disk", "UNKNOWN", "CRITICAL"));
      await send(agent, nagios("web1.example", "disk", "CRITICAL"));
      await send(agent, nagios("web1.example", "load", "OK"));
      await send(agent, nagios("db1.example", "backup", "OK"));
      await send(agent, transition("db1.example", "backup", "OK", "MAINTENANCE"));
      // Foreign (web1 speaking for db1) and a malformed lifecycle message.
      await send(agent, nagios("db1.example", "disk", "OK"), "web1.example");
      n++;
      await agent.stream.publish(
        "scout.node.web1_example.lifecycle.alive",
        new TextEncoder().encode("{oops"),
        { msgId: "junk-1" },
      );
      const h = hub;
      await waitUntil("every event in the view", () => h.lastSeq() === n);
      const text = await getMetrics(h);
      const lines = new Set(text.split("\n"));
      for (
        const want of [
          'scout_fleet_nodes{stale="false"} 2',
          'scout_fleet_nodes{stale="true"} 0',
          'scout_fleet_checks{status="OK"} 1',
          'scout_fleet_checks{status="CRITICAL"} 1',
          'scout_fleet_checks{status="MAINTENANCE"} 1',
          'scout_fleet_checks{status="PENDING"} 0',
          'scout_fleet_check_status{node="db1.example",check="backup",status="MAINTENANCE"} 4',
          'scout_fleet_check_status{node="web1.example",check="disk",status="CRITICAL"} 2',
          'scout_fleet_check_status{node="web1.example",check="load",status="OK"} 0',
          'scout_hub_events_total{result="accepted"} 7',
          'scout_hub_events_total{result="malformed"} 1',
          'scout_hub_events_total{result="schema"} 0',
          'scout_hub_events_total{result="foreign"} 1',
          'choria_tally_good_events{component="scout",active="1"} 2',
          'choria_tally_process_errors{component="scout",active="1"} 1',
          'choria_tally_event_types{component="scout",type="alive",active="1"} 1',
          'choria_tally_event_types{component="scout",type="startup",active="1"} 1',
          'choria_tally_versions{component="scout",version="0.9.0",active="1"} 2',
          'choria_tally_machine_transition{machine="disk",version="1.0.0",transition="critical",' +
          'from="UNKNOWN",to="CRITICAL",active="1"} 1',
          'choria_tally_machine_transition{machine="backup",version="1.0.0",' +
          'transition="maintenance",from="OK",to="MAINTENANCE",active="1"} 1',
        ]
      ) ok(lines.has(want), `missing ${want} in\n${text}`);
      for (const l of text.split("\n").filter((l) => l.startsWith("# TYPE "))) {
        ok(text.includes(`# HELP ${l.split(" ")[2]} `), `HELP for ${l}`);
      }

      if (SKIP_PROMTOOL) {
        // deno-lint-ignore no-console
        console.warn("hub_metrics_test: promtool check of /metrics skipped (no promtool)");
      } else {
        requirePromtool();
        const v = await promtoolCheck(text, ACCEPTED_LINT);
        assertParses(v, "hub /metrics");
        ok(v.lint.length > 0, "promtool lints tally's counter names");
        const broken = await promtoolCheck(text.replace('{stale="false"}', '{stale="false}'), []);
        ok(broken.problems.length > 0, "promtool refuses a broken exposition");
      }

      // Restart: the counters continue from the snapshot, events sent while down are added.
      await hub.stop();
      hub = null;
      await send(agent, life("shutdown", "web1.example", "0.9.0"));
      await send(agent, life("startup", "web1.example", "1.0.0"));
      await send(agent, transition("web1.example", "disk", "CRITICAL", "OK"));
      hub = await startHub(hubOpts);
      const h2 = hub;
      await waitUntil("the events sent while down", () => h2.lastSeq() === n);
      const after = new Set((await getMetrics(h2)).split("\n"));
      for (
        const want of [
          'scout_hub_events_total{result="accepted"} 10',
          'choria_tally_good_events{component="scout",active="1"} 4',
          'choria_tally_event_types{component="scout",type="shutdown",active="1"} 1',
          'choria_tally_event_types{component="scout",type="startup",active="1"} 2',
          'choria_tally_versions{component="scout",version="0.9.0",active="1"} 1',
          'choria_tally_versions{component="scout",version="1.0.0",active="1"} 1',
          'choria_tally_process_errors{component="scout",active="1"} 1',
        ]
      ) ok(after.has(want), `missing ${want} after the restart`);

      // A hub without a state directory rebuilds the same counters from the whole stream.
      await hub.stop();
      hub = await startHub({ ...hubOpts, stateDir: null });
      const h3 = hub;
      await waitUntil("the rebuilt view", () => h3.lastSeq() === n);
      deepEqual(h3.metrics, h2.metrics);
    } finally {
      await hub?.stop();
      await agent.close();
      await server.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
