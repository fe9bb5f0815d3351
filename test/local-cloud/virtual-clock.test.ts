/**
 * The virtual clock: real time plus an offset that only grows, seen through a `Date` class that
 * code gets as its `Date` (the bundles) or finds installed in its realm (the emulators).
 */
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { Ec2Emulator } from './ec2-emulator';
import { credentials } from './ec2-test-support';
import { VirtualClock } from './virtual-clock';

const HOUR = 3600_000;
const RealDate = Date;

afterEach(() => {
  // A failed test must not leave virtual time installed for the next one.
  globalThis.Date = RealDate;
});

describe('VirtualClock', () => {
  test('starts at real time and moves only forward', () => {
    const clock = new VirtualClock();
    expect(Math.abs(clock.now() - RealDate.now())).toBeLessThan(1000);
    clock.advanceBy(HOUR);
    expect(clock.now() - RealDate.now()).toBeGreaterThan(HOUR - 1000);
    const target = clock.now() + 24 * HOUR;
    clock.advanceTo(target);
    expect(clock.now() - target).toBeGreaterThanOrEqual(0);
    expect(clock.now() - target).toBeLessThan(1000);
    expect(clock.offsetMs).toBeGreaterThan(25 * HOUR - 1000);
    expect(() => clock.advanceTo(target - HOUR)).toThrow(/never goes back/);
    expect(() => clock.advanceBy(-1)).toThrow(/never goes back/);
    expect(() => clock.advanceBy(Number.NaN)).toThrow(RangeError);
  });

  test('keeps running with real time after a jump', async () => {
    const clock = new VirtualClock({ start: RealDate.UTC(2031, 0, 1) });
    const first = clock.now();
    await new Promise((r) => setTimeout(r, 30));
    expect(clock.now() - first).toBeGreaterThanOrEqual(25);
    expect(new RealDate(first).toISOString()).toMatch(/^2031-01-01T00:00:00/);
  });

  test('DateClass reads the clock when given no argument, and behaves as Date otherwise', () => {
    const clock = new VirtualClock();
    clock.advanceBy(48 * HOUR);
    const { DateClass } = clock;
    expect(Math.abs(DateClass.now() - clock.now())).toBeLessThan(50);
    expect(Math.abs(new DateClass().getTime() - clock.now())).toBeLessThan(50);
    expect(new DateClass(0).toISOString()).toBe('1970-01-01T00:00:00.000Z');
    expect(new DateClass('2030-05-06T07:08:09Z').getTime()).toBe(RealDate.UTC(2030, 4, 6, 7, 8, 9));
    expect(new DateClass(2030, 4, 6).getFullYear()).toBe(2030);
    expect(DateClass.UTC(2030, 0, 1)).toBe(RealDate.UTC(2030, 0, 1));
    expect(DateClass.parse('2030-01-01T00:00:00Z')).toBe(RealDate.UTC(2030, 0, 1));
    expect(RealDate.parse((DateClass as unknown as () => string)())).toBeGreaterThan(
      RealDate.now() + 47 * HOUR,
    );
    // Dates made before or outside it still are Dates to code holding DateClass, and the other way round.
    expect(new RealDate() instanceof DateClass).toBe(true);
    expect(new DateClass() instanceof RealDate).toBe(true);
    expect({} instanceof DateClass).toBe(false);
  });

  test('install() moves Date.now() and new Date() for code in this realm; uninstall() puts them back', () => {
    const clock = new VirtualClock();
    clock.advanceBy(10 * HOUR);
    // What an emulator does: reads the global Date.
    const emulatorNow = () => [Date.now(), new Date().getTime()];

    expect(clock.install()).toBe(RealDate);
    expect(globalThis.Date).toBe(clock.DateClass);
    for (const t of emulatorNow()) expect(t - RealDate.now()).toBeGreaterThan(10 * HOUR - 1000);
    clock.advanceBy(HOUR);
    for (const t of emulatorNow()) expect(t - RealDate.now()).toBeGreaterThan(11 * HOUR - 1000);
    // The clock reads real time from the Date it was made with, not from the one it installed.
    expect(clock.now() - RealDate.now()).toBeLessThan(11 * HOUR + 1000);

    expect(clock.uninstall()).toBe(RealDate);
    expect(globalThis.Date).toBe(RealDate);
    for (const t of emulatorNow()) expect(Math.abs(t - RealDate.now())).toBeLessThan(1000);
    expect(clock.uninstall()).toBeUndefined();
  });

  test('the emulators, which run in this realm, read the installed clock', async () => {
    const ec2 = await Ec2Emulator.start();
    const client = new EC2Client({
      region: 'us-east-1',
      endpoint: ec2.endpoint,
      credentials,
      maxAttempts: 1,
    });
    const clock = new VirtualClock();
    clock.advanceBy(5 * HOUR);
    try {
      clock.install();
      await client.send(new DescribeInstancesCommand({}));
      clock.uninstall();
      const [call] = ec2.calls;
      expect(call.at - RealDate.now()).toBeGreaterThan(5 * HOUR - 1000);
    } finally {
      clock.uninstall();
      client.destroy();
      await ec2.stop();
    }
  });
});
