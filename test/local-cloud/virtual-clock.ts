/**
 * Virtual time for the local cloud: a clock that runs at the speed of real time but can jump
 * ahead, so a test can live through a day (token expiry, boot and idle timeouts, pending
 * deadlines) in seconds. Timers are not faked: only what code reads from `Date` moves.
 *
 * The bundles see the clock through their `Date` (`loadBundle(name, env, { Date: clock.DateClass })`);
 * the emulators, which run in the test's realm, see it once `clock.install()` has replaced that
 * realm's `Date`.
 */
import { types } from 'node:util';

/** Options of a {@link VirtualClock}. */
export interface VirtualClockOptions {
  /** Epoch ms the clock reads right away (it must not be in the past). @default real time */
  readonly start?: number;
  /** The `Date` whose time is the real time and whose behaviour the virtual one inherits. @default this realm's `Date` */
  readonly base?: DateConstructor;
}

/**
 * A clock whose `now()` is real time plus an offset that only grows.
 *
 * @example
 * const clock = new VirtualClock();
 * clock.install(); // the emulators in this realm now read virtual time
 * const handler = loadHandler('retry', env, { Date: clock.DateClass });
 * clock.advanceBy(3600_000);
 */
export class VirtualClock {
  /** A `Date` whose no-argument constructor, `Date()` and `Date.now()` read this clock. */
  readonly DateClass: DateConstructor;
  private offset = 0;
  private readonly realNow: () => number;
  private installed: { previous: DateConstructor } | undefined;

  constructor(options: VirtualClockOptions = {}) {
    const base = options.base ?? globalThis.Date;
    // Bound once: after install(), `Date.now` is ours, and reading it here would recurse.
    this.realNow = base.now.bind(base);
    this.DateClass = virtualDateClass(base, () => this.now());
    if (options.start !== undefined) this.advanceTo(options.start);
  }

  /** Epoch ms: real time plus the offset. */
  now(): number {
    return this.realNow() + this.offset;
  }

  /** How far ahead of real time the clock is, in ms. */
  get offsetMs(): number {
    return this.offset;
  }

  /** Jumps to `t` (epoch ms or a Date). Throws if `t` is before `now()`: virtual time never goes back. */
  advanceTo(t: number | Date): void {
    const target = typeof t === 'number' ? t : t.getTime();
    const now = this.now();
    if (!(target >= now)) {
      throw new RangeError(
        `advanceTo(${target}): the clock is already at ${now}; virtual time never goes back`,
      );
    }
    this.offset += target - now;
  }

  /** Jumps ahead by `ms` (>= 0). */
  advanceBy(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`advanceBy(${ms}): virtual time never goes back; pass ms >= 0`);
    this.offset += ms;
  }

  /**
   * Replaces `globalThis.Date` of the current realm with {@link DateClass} (under Jest, the test
   * file's realm: the emulators' time). Returns the `Date` it replaced. Installing twice is a no-op.
   */
  install(): DateConstructor {
    if (this.installed) return this.installed.previous;
    const previous = globalThis.Date;
    this.installed = { previous };
    globalThis.Date = this.DateClass;
    return previous;
  }

  /** Puts back the `Date` that {@link install} replaced and returns it (undefined when not installed). */
  uninstall(): DateConstructor | undefined {
    if (!this.installed) return undefined;
    const { previous } = this.installed;
    globalThis.Date = previous;
    this.installed = undefined;
    return previous;
  }
}

/**
 * A subclass of `base` reading `now`. Any Date, from any realm, is an instance of it, so code
 * handed the class as its `Date` still recognises the dates Node or another realm made.
 */
function virtualDateClass(base: DateConstructor, now: () => number): DateConstructor {
  class VirtualDate extends base {
    constructor(...args: unknown[]) {
      if (args.length === 0) super(now());
      else super(...(args as [string | number | Date]));
    }

    static override now(): number {
      return now();
    }

    static [Symbol.hasInstance](value: unknown): boolean {
      return types.isDate(value);
    }
  }
  // `Date()` without `new` returns the current time as a string; a class cannot be called.
  return new Proxy(VirtualDate, {
    apply: () => new base(now()).toString(),
  }) as unknown as DateConstructor;
}
