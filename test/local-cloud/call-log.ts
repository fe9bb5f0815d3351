/**
 * The causal call log the gates share: each call's arrival and answer ordered by one counter, never
 * by time, and the longest chain of calls made one after another (the critical path).
 */

/**
 * What became of a call: `held` never reached its upstream (yet); `landed-unanswered` reached it
 * but the answer was kept from the container; `landed-late` was forwarded by `landLate()`;
 * `failed` could not reach the upstream (answered 502 unless the gate was cut).
 */
export type CallFate = 'pending' | 'answered' | 'held' | 'landed-unanswered' | 'landed-late' | 'failed';

/** One call in the causal log. */
export interface LoggedCall {
  readonly gate: string;
  readonly upstream: string;
  readonly target: string;
  /** Taken from the log's counter when the request arrived. */
  readonly startSeq: number;
  /** Taken from the counter when the answer was relayed; undefined if it never was. */
  readonly endSeq: number | undefined;
  readonly fate: CallFate;
}

export type MutableCall = { -readonly [K in keyof LoggedCall]: LoggedCall[K] };

/** The calls of any number of gates, ordered by one counter that ticks at every arrival and every answer. */
export class CallLog {
  private seq = 0;
  private readonly records: MutableCall[] = [];

  /** Every call recorded since the last {@link clear}, in arrival order. */
  get calls(): readonly LoggedCall[] {
    return this.records;
  }

  /** The calls of one gate. */
  of(gateId: string): LoggedCall[] {
    return this.records.filter((c) => c.gate === gateId);
  }

  /** Ticks the counter. */
  next(): number {
    return ++this.seq;
  }

  /** Forgets the recorded calls; the counter keeps counting. */
  clear(): void {
    this.records.length = 0;
  }

  /** @internal Records an arrival. */
  arrive(gate: string, upstream: string): MutableCall {
    const call: MutableCall = {
      gate,
      upstream,
      target: '',
      startSeq: this.next(),
      endSeq: undefined,
      fate: 'pending',
    };
    this.records.push(call);
    return call;
  }
}

/** The log gates share unless given their own. */
export const sharedCallLog = new CallLog();

/**
 * The longest chain of calls each of which started after the previous one's answer was relayed
 * (the longest chain of the interval order). A call never answered can only end a chain.
 */
export function longestChain<C extends Pick<LoggedCall, 'startSeq' | 'endSeq'>>(calls: readonly C[]): C[] {
  const end = (c: C) => c.endSeq ?? Infinity;
  const byStart = [...calls].sort((x, y) => x.startSeq - y.startSeq);
  const byEnd = [...calls].sort((x, y) => end(x) - end(y));
  // The longest chain ending at each call, as its length and the call before it. Whatever ended
  // before a call started also started before it, so it was visited already.
  const links = new Map<C, { length: number; previous: C | undefined }>();
  let bestEnded: C | undefined;
  let ended = 0;
  for (const call of byStart) {
    while (ended < byEnd.length && end(byEnd[ended]) < call.startSeq) {
      const candidate = byEnd[ended++];
      if (!bestEnded || links.get(candidate)!.length > links.get(bestEnded)!.length) bestEnded = candidate;
    }
    links.set(call, { length: (bestEnded ? links.get(bestEnded)!.length : 0) + 1, previous: bestEnded });
  }
  let last: C | undefined;
  for (const [call, link] of links) if (!last || link.length > links.get(last)!.length) last = call;
  const chain: C[] = [];
  for (let c = last; c; c = links.get(c)!.previous) chain.unshift(c);
  return chain;
}

/** How many calls ran one after another: the length of {@link longestChain}. */
export function criticalPath(calls: readonly Pick<LoggedCall, 'startSeq' | 'endSeq'>[]): number {
  return longestChain(calls).length;
}
