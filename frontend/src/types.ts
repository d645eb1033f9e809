// The API's JSON shapes the panel reads (see backend/tgfleet/api/schemas.py).

export interface Device {
  device_model: string;
  system_version: string;
  app_version: string;
  lang_code: string;
  system_lang_code: string;
}

export interface Account {
  id: number;
  key: string;
  kind: string;
  phone: string | null;
  bot_id: number | null;
  label: string;
  status: string;
  status_detail: string;
  flood_until: string | null;
  enabled: boolean;
  keep_online: boolean;
  device: Device;
  proxy: string | null;
  api_id: number | null;
  created_at: string;
  updated_at: string;
  username?: string | null;
}

export interface Authorization {
  id: number;
  dc_id: number;
  api_id: number;
  test_mode: boolean;
  user_id: number | null;
  is_bot: boolean;
  state: string;
  state_detail: string;
  created_at: string;
  last_used_at: string | null;
}

export interface AccountDetail extends Account {
  authorizations: Authorization[];
}

export interface AccountPage {
  items: Account[];
  next_cursor: number | null;
}

export interface Connection {
  connection_id: number;
  phone: string;
  authorization_id: string;
  state: string;
  age: number;
  idle_for: number;
  use_count: number;
  error_count: number;
  last_error: string | null;
  pinned: boolean;
  borrower: string | null;
}

export interface Login {
  id: string;
  kind: string;
  account: string;
  step: string;
  code_type: string;
  password_hint: string;
  error: string;
  account_id: number | null;
  authorization_id: number | null;
}

export interface PoolStats {
  current_pool_size: number;
  current_active_connections: number;
  idle_connections: number;
  connecting: number;
  closing: number;
  waiting: number;
  errors: number;
  timeouts: number;
  utilization: number;
  max_total_connections: number;
  acquire_wait_seconds: { p50: number; p95: number; p99: number };
  [extra: string]: unknown;
}

export interface RequestStats {
  rps: number;
  error_rate: number | null;
  success_rate?: number | null;
  p50: number | null;
  p95: number | null;
  total: number;
  errors: number;
}

export interface StatsEvent {
  at: number;
  pool: PoolStats;
  requests: RequestStats | null;
  floods_active: number;
}

export interface FleetEvent {
  id: number;
  kind: string;
  at: number;
  account: string | null;
  [field: string]: unknown;
}

export interface Dialog {
  chat_id: number;
  title: string;
  unread: number;
}

export interface Message {
  chat_id: number;
  message_id: number;
  sender_id: number | null;
  text: string;
  outgoing: boolean;
}

export interface ApiToken {
  id: number | string;
  name: string;
  prefix?: string;
  created_at?: string;
  last_used_at?: string | null;
  [extra: string]: unknown;
}
