import { deepEqual, equal, ok } from "node:assert/strict";
import { createFleet, dryRun, STATUSES } from "./simulate.ts";
import { type PublishPolicy } from "../src/events.ts";

// 200 nodes x 10 checks every 10 s for 10 min, announcing every 5 min: 120,000 runs and 4,000
// announcements per policy, from the same seed, so every policy sees the same runs.
const timing = { intervalMs: 10_000, announceMs: 300_000, durationMs: 600_000 };
const rates = (policy: PublishPolicy) => dryRun(createFleet(200, 10, { seed: 42, policy }), timing);

Deno.test("simulated fleet keeps its status mix: about 2% of runs are transitions, ~5% not OK", () => {
  const fleet = createFleet(200, 10, { seed: 7 });
  const r = dryRun(fleet, timing);
  equal(r.runs, 120_000);
  equal(r.announces, 4_000);
  ok(r.transitions / r.runs > 0.017 && r.transitions / r.runs < 0.023, `${r.transitions}`);
  // all publishes every run, every transition and every announcement
  equal(r.published, r.built);
  equal(r.built, r.runs + r.transitions + r.announces);
  // The mix after 60 runs per check is still the starting one (it does not drift to uniform).
  let notOk = 0;
  for (let n = 0; n < 200; n++) {
    for (let c = 0; c < 10; c++) {
      const ev = fleet.nextAnnounce(0)[0]!;
      const status = JSON.parse(new TextDecoder().decode(ev.data)).data.status as string;
      ok(STATUSES.includes(status as never));
      if (status !== "OK") notOk++;
    }
  }
  ok(notOk / 2000 > 0.03 && notOk / 2000 < 0.08, `${notOk} of 2000 not OK`);
});

Deno.test("publish policies filter the simulated fleet's events per second (fixed seed)", () => {
  const all = rates("all"), changes = rates("changes"), nonOk = rates("non-ok");
  // Same seed: the same runs, transitions and announcements under every policy.
  for (const r of [changes, nonOk]) {
    deepEqual([r.runs, r.transitions, r.announces, r.built], [
      all.runs,
      all.transitions,
      all.announces,
      all.built,
    ]);
  }
  // all: 200 runs/s, ~2% more transitions, 6.7 announcements/s
  ok(all.eventsPerSec > 209 && all.eventsPerSec < 212, `all ${all.eventsPerSec}`);
  // changes: non-OK results (~5%) + transitions (~2%) + announcements (3.3% of runs)
  ok(changes.eventsPerSec > 15 && changes.eventsPerSec < 28, `changes ${changes.eventsPerSec}`);
  // non-ok: changes minus the transitions back to OK (about half of them)
  ok(nonOk.eventsPerSec < changes.eventsPerSec && nonOk.eventsPerSec > 12, `${nonOk.eventsPerSec}`);
  ok(changes.eventsPerSec - nonOk.eventsPerSec < all.transitions / 600, "only OK transitions");
  // Deterministic for a fixed seed: these counts change only when the generator does.
  deepEqual([all.published, changes.published, nonOk.published], [126_444, 12_334, 11_123]);
  equal(rates("changes").published, changes.published);
});
