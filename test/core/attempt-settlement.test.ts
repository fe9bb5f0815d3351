import { settleEarlierAttempts } from '../../lambda/core/attempt-settlement';
import { InstanceView, RegistrationView } from '../../lambda/core/fleet-views';

const inst = (
  id: string,
  runnerName: string,
  state: InstanceView['state'] = 'running',
  launchTime = 1000,
): InstanceView => ({
  instanceId: id,
  state,
  launchTime,
  runnerName,
});
const reg = (
  id: number,
  name: string,
  status: 'online' | 'offline' = 'offline',
  busy = false,
): RegistrationView => ({
  id,
  name,
  status,
  busy,
});

type Row = [
  string,
  { instances: InstanceView[]; registrations: RegistrationView[]; handoffs: string[] },
  { adopt?: string; terminate: string[]; deleteRegistrations: number[]; deleteHandoffs?: string[] },
];

const rows: Row[] = [
  [
    'nothing left',
    { instances: [], registrations: [], handoffs: [] },
    { terminate: [], deleteRegistrations: [] },
  ],
  [
    'registration without instance: deleted',
    { instances: [], registrations: [reg(1, 'r1')], handoffs: [] },
    { terminate: [], deleteRegistrations: [1] },
  ],
  [
    'instance without handoff, runner offline: cleaned up',
    { instances: [inst('i-1', 'r1')], registrations: [reg(1, 'r1')], handoffs: [] },
    { terminate: ['i-1'], deleteRegistrations: [1] },
  ],
  [
    'instance without registration: terminated, its handoff deleted',
    { instances: [inst('i-1', 'r1')], registrations: [], handoffs: ['i-1'] },
    { terminate: ['i-1'], deleteRegistrations: [], deleteHandoffs: ['i-1'] },
  ],
  [
    'whole launch (handoff there): adopted',
    { instances: [inst('i-1', 'r1')], registrations: [reg(1, 'r1')], handoffs: ['i-1'] },
    { adopt: 'i-1', terminate: [], deleteRegistrations: [] },
  ],
  [
    'handoff consumed, runner online: adopted',
    { instances: [inst('i-1', 'r1')], registrations: [reg(1, 'r1', 'online')], handoffs: [] },
    { adopt: 'i-1', terminate: [], deleteRegistrations: [] },
  ],
  [
    'two whole launches: the newest adopted, the other undone',
    {
      instances: [inst('i-1', 'r1', 'running', 1000), inst('i-2', 'r2', 'running', 2000)],
      registrations: [reg(1, 'r1', 'online'), reg(2, 'r2')],
      handoffs: ['i-2'],
    },
    { adopt: 'i-2', terminate: ['i-1'], deleteRegistrations: [1] },
  ],
  [
    'a busy runner is never deregistered nor its instance terminated',
    {
      instances: [inst('i-1', 'r1', 'running', 1000), inst('i-2', 'r2', 'running', 2000)],
      registrations: [reg(1, 'r1', 'online', true), reg(2, 'r2')],
      handoffs: ['i-2'],
    },
    { adopt: 'i-2', terminate: [], deleteRegistrations: [] },
  ],
  [
    'a dead instance is never adopted',
    { instances: [inst('i-1', 'r1', 'terminated')], registrations: [reg(1, 'r1')], handoffs: ['i-1'] },
    { terminate: [], deleteRegistrations: [1], deleteHandoffs: ['i-1'] },
  ],
];

test.each(rows)('%s', (_name, left, expected) => {
  const s = settleEarlierAttempts({ ...left, handoffsPresent: new Set(left.handoffs) });
  expect(s.adopt?.instanceId).toBe(expected.adopt);
  expect([...s.terminate].sort()).toEqual(expected.terminate);
  expect([...s.deleteRegistrations].sort()).toEqual(expected.deleteRegistrations);
  expect([...s.deleteHandoffs].sort()).toEqual(expected.deleteHandoffs ?? []);
});
