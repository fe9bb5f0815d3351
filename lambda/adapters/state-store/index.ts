/**
 * The one state store: job records, JIT handoff items and the reconciler's items in the DynamoDB
 * state table, split along those seams. Every handler builds one from the same client and table.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Handoffs } from './handoffs';
import { InterruptionItems } from './interruption-items';
import { JobRecords } from './job-records';
import { ReconcilerItems } from './reconciler-items';

export type { JobRecord, LaunchRecord, NewJob } from '../../core/job-record';
export type { Finalization } from './job-records';
export type { DeliveryCheckpoint, KnownScope } from './reconciler-items';
export type { StoredRerun } from './interruption-items';
export { Handoffs, InterruptionItems, JobRecords, ReconcilerItems };

/** The state store of one table. */
export class StateStore {
  readonly jobs: JobRecords;
  readonly handoffs: Handoffs;
  readonly reconciler: ReconcilerItems;
  readonly interruptions: InterruptionItems;

  constructor(client: DynamoDBClient, tableName: string) {
    this.jobs = new JobRecords(client, tableName);
    this.handoffs = new Handoffs(client, tableName);
    this.reconciler = new ReconcilerItems(client, tableName);
    this.interruptions = new InterruptionItems(client, tableName);
  }
}
