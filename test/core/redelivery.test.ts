import { DeliveryView, deliveriesToRedeliver } from '../../lambda/core/redelivery';

const NOW = 10 * 24 * 3_600_000;
const d = (
  id: number,
  guid: string,
  statusCode: number,
  agoMin: number,
  over: Partial<DeliveryView> = {},
): DeliveryView => ({
  id,
  guid,
  deliveredAt: NOW - agoMin * 60_000,
  redelivery: false,
  statusCode,
  event: 'workflow_job',
  action: 'queued',
  ...over,
});
const rules = {
  now: NOW,
  windowMs: 3 * 24 * 3_600_000,
  maxAttempts: 3,
  alreadyRedelivered: new Set<number>(),
  max: 10,
};
const pick = (ds: DeliveryView[], r = rules) => deliveriesToRedeliver(ds, r);

test.each([
  ['a 5xx is redelivered', [d(1, 'a', 502, 5)], [1], []],
  ['a timeout (no answer) is redelivered', [d(1, 'a', 0, 5)], [1], []],
  ['an API Gateway throttle (429) is redelivered', [d(1, 'a', 429, 5)], [1], []],
  ['a success is not', [d(1, 'a', 200, 5)], [], []],
  [
    'a failure followed by a successful redelivery is not',
    [d(1, 'a', 500, 9), d(2, 'a', 202, 5, { redelivery: true })],
    [],
    [],
  ],
  [
    'a failed redelivery is redelivered once more (its latest attempt)',
    [d(1, 'a', 500, 9), d(2, 'a', 500, 5, { redelivery: true })],
    [2],
    [],
  ],
  [
    'after three failed attempts the guid is given up',
    [d(1, 'a', 500, 9), d(2, 'a', 500, 7, { redelivery: true }), d(3, 'a', 500, 5, { redelivery: true })],
    [],
    ['a'],
  ],
  ['other events are left alone', [d(1, 'a', 500, 5, { event: 'installation' })], [], []],
  ["outside GitHub's window: not redelivered", [d(1, 'a', 500, 4 * 24 * 60)], [], []],
  ['oldest first', [d(2, 'b', 500, 3), d(1, 'a', 500, 5)], [1, 2], []],
  [
    "a job's completed before its queued, so the queued finds it final",
    [
      d(1, 'q', 500, 9),
      d(2, 'c', 500, 5, { action: 'completed' }),
      d(3, 'p', 500, 7, { action: 'in_progress' }),
    ],
    [2, 3, 1],
    [],
  ],
] as [string, DeliveryView[], number[], string[]][])('%s', (_n, ds, ids, givenUp) => {
  const out = pick(ds);
  expect(out.redeliver.map((x) => x.id)).toEqual(ids);
  expect(out.givenUp).toEqual(givenUp);
});

test('a delivery redelivered by an earlier run is not asked for again before its attempt is listed', () => {
  expect(pick([d(1, 'a', 500, 5)], { ...rules, alreadyRedelivered: new Set([1]) }).redeliver).toEqual([]);
});

test('at most `max` a run', () => {
  const many = Array.from({ length: 30 }, (_, i) => d(i + 1, `g${i}`, 500, 30 - i));
  expect(pick(many, { ...rules, max: 25 }).redeliver).toHaveLength(25);
});
