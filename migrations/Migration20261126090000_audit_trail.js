import { Migration } from "@mikro-orm/migrations";

/**
 * Audit trail in the database (issue 8: audit trail, retention, least privilege).
 *
 * - One generic row trigger function, `audit_row_change(entity_type)`, is attached AFTER INSERT/UPDATE/DELETE
 *   to every audited table, so every write (raw SQL or MikroORM flush) writes `audit_log` rows in the same
 *   transaction. Actions: create; update; `status_change` (a `status` column changed); `delete` (soft delete:
 *   `deleted_at` set, or a hard DELETE of a table without `deleted_at`); `restore` (`deleted_at` cleared);
 *   `purge` (hard DELETE of a soft-deletable row). Only changed columns are recorded (old and new values),
 *   sensitive keys/shapes masked by `audit_mask(key, value)`. Context comes from transaction-local settings
 *   `taskmaster.actor`, `.request_id`, `.trace_id`, `.client_ip`, `.user_agent` (set by the application's
 *   MikroORM transaction subscriber).
 * - Tamper evidence without a global lock on writes: a BEFORE INSERT trigger stores `hash` = sha256 of the
 *   row's canonical content (`audit_content_hash`) with `prev_hash` null ("unsealed"). `audit_seal()` (under
 *   an advisory lock) chains unsealed rows in `seq` order: `prev_hash` = the chain's last hash,
 *   `hash` = sha256(prev_hash || content hash). `audit_verify()` reports broken links.
 * - `audit_log` is partitioned by month on `occurred_at` (UTC months, `audit_log_pYYYYMM`, plus a default
 *   partition so an insert never fails). `audit_ensure_partitions(months_ahead)` creates partitions ahead;
 *   `audit_drop_expired(retention_days)` drops whole expired partitions (advisory lock: safe to run twice at
 *   once) and reports what it removed.
 * - Roles (cluster-wide, created if missing, never dropped): taskmaster_owner, taskmaster_app (DML on
 *   application tables, SELECT + INSERT only on audit_log), taskmaster_readonly, taskmaster_retention
 *   (executes the SECURITY DEFINER retention functions only). down() revokes this database's grants.
 */

const AUDITED = {
  tasks: "task",
  sprints: "sprint",
  releases: "release",
  milestones: "milestone",
  task_relationships: "task_relationship",
  task_comments: "task_comment",
  task_attachments: "task_attachment",
  task_time_logs: "task_time_log",
  templates: "template",
  template_categories: "template_category",
  template_types: "template_type",
  template_versions: "template_version",
  template_dependencies: "template_dependency",
  template_permissions: "template_permission",
  template_reviews: "template_review",
  alert_rules: "alert_rule",
};

const ROLES = ["taskmaster_owner", "taskmaster_app", "taskmaster_readonly", "taskmaster_retention"];

/** Advisory lock keys (two-int form, class 0x7a5c = taskmaster). */
const SEAL_LOCK = "pg_advisory_xact_lock(31324, 8001)";
const RETENTION_LOCK = "pg_advisory_xact_lock(31324, 8002)";

const GENESIS = "0".repeat(64);

const AUDIT_LOG_COLUMNS = `"id" uuid not null, "seq" bigserial, "entity_type" varchar(64) not null, "entity_id" varchar(255) not null, "action" varchar(16) not null, "changed_fields" text[] not null default '{}', "old_values" jsonb null, "new_values" jsonb null, "actor" varchar(255) null, "request_id" varchar(255) null, "trace_id" varchar(64) null, "client_ip" inet null, "user_agent" text null, "occurred_at" timestamptz not null default now(), "prev_hash" varchar(64) null, "hash" varchar(64) null`;

const COLUMN_LIST = `"id", "seq", "entity_type", "entity_id", "action", "changed_fields", "old_values", "new_values", "actor", "request_id", "trace_id", "client_ip", "user_agent", "occurred_at", "prev_hash", "hash"`;

export class Migration20261126090000_audit_trail extends Migration {
  name = "Migration20261126090000_audit_trail";

  async up() {
    // ---- roles (cluster-wide; idempotent and race-safe across databases migrating at the same time) ----
    this.addSql(`do $$
declare r text;
begin
  if not exists (select 1 from pg_roles where rolname = current_user and (rolsuper or rolcreaterole)) then
    raise notice 'taskmaster roles not created: % may not create roles', current_user;
    return;
  end if;
  foreach r in array array[${ROLES.map((r) => `'${r}'`).join(", ")}] loop
    if not exists (select 1 from pg_roles where rolname = r) then
      begin
        execute format('create role %I nologin', r);
      exception when duplicate_object or unique_violation then null;
      end;
    end if;
  end loop;
end $$;`);

    // ---- audit_log: recreate partitioned by month, keeping existing rows ----
    this.addSql(`create temporary table "audit_log_carry" as select ${COLUMN_LIST} from "audit_log";`);
    this.addSql(`drop table "audit_log";`);
    this.addSql(`create table "audit_log" (${AUDIT_LOG_COLUMNS},
      constraint "audit_log_pkey" primary key ("id", "occurred_at"),
      constraint "audit_log_seq_uniq" unique ("seq", "occurred_at"),
      constraint "audit_log_entity_type_check" check (entity_type ~ '^[a-z][a-z0-9_]{0,63}$'),
      constraint "audit_log_action_check" check (action in ('create', 'update', 'delete', 'status_change', 'restore', 'purge')),
      constraint "audit_log_hash_check" check (hash is null or hash ~ '^[0-9a-f]{64}$'),
      constraint "audit_log_prev_hash_check" check (prev_hash is null or prev_hash ~ '^[0-9a-f]{64}$')
    ) partition by range ("occurred_at");`);
    this.addSql(
      `create index "audit_log_entity_idx" on "audit_log" ("entity_type", "entity_id", "occurred_at");`,
    );
    this.addSql(`create index "audit_log_actor_idx" on "audit_log" ("actor", "occurred_at");`);
    this.addSql(`create index "audit_log_action_idx" on "audit_log" ("action", "occurred_at");`);
    this.addSql(`create index "audit_log_occurred_at_idx" on "audit_log" ("occurred_at");`);
    this.addSql(`create index "audit_log_unsealed_idx" on "audit_log" ("seq") where "prev_hash" is null;`);
    this.addSql(`create table "audit_log_default" partition of "audit_log" default;`);

    // Chain state: last hash of the chain, and the hashes of rows removed by retention that surviving
    // rows legitimately point to.
    this.addSql(`create table "audit_chain_state" (
      "id" smallint not null default 1,
      "last_hash" varchar(64) not null default '${GENESIS}',
      "sealed_rows" bigint not null default 0,
      "anchors" text[] not null default '{}',
      "updated_at" timestamptz not null default now(),
      constraint "audit_chain_state_pkey" primary key ("id"),
      constraint "audit_chain_state_single_row" check ("id" = 1)
    );`);
    this.addSql(`insert into "audit_chain_state" ("id") values (1);`);

    // ---- hashing ----
    this.addSql(`create function "audit_content_hash"(a "audit_log") returns varchar(64) language sql stable as $$
  select encode(sha256(convert_to(jsonb_build_array(
    a.id, a.seq, a.entity_type, a.entity_id, a.action, a.changed_fields, a.old_values, a.new_values,
    a.actor, a.request_id, a.trace_id, a.client_ip::text, a.user_agent,
    to_char(a.occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))::text, 'UTF8')), 'hex')
$$;`);
    this.addSql(`create function "audit_chain_hash"(prev varchar, content varchar) returns varchar(64) language sql immutable as $$
  select encode(sha256(convert_to(prev || content, 'UTF8')), 'hex')
$$;`);
    this.addSql(`create function "audit_log_before_insert"() returns trigger language plpgsql as $$
begin
  -- Every inserted row starts unsealed with the hash of its own content; only audit_seal() chains it.
  new.prev_hash := null;
  new.hash := audit_content_hash(new);
  return new;
end $$;`);
    this.addSql(
      `create trigger "audit_log_hash" before insert on "audit_log" for each row execute function "audit_log_before_insert"();`,
    );

    // ---- masking ----
    this.addSql(`create function "audit_mask"(k text, v jsonb) returns jsonb language plpgsql stable as $$
declare
  key_pattern text := coalesce(nullif(current_setting('taskmaster.audit_mask_keys', true), ''),
    '(pass(word|wd|phrase)?|secret|token|api[_-]?key|apikey|authorization|private[_-]?key|credential|cookie|session[_-]?id)');
  s text;
  out jsonb;
  e record;
begin
  if v is null or v = 'null'::jsonb then
    return v;
  end if;
  if k is not null and k ~* key_pattern then
    return to_jsonb('***'::text);
  end if;
  case jsonb_typeof(v)
    when 'string' then
      s := v #>> '{}';
      if s ~ '://[^/@\\s:]*:[^@\\s]*@' or s ~* '[?&](access_token|token|api_?key|key|secret|password|sig|signature)='
         or s ~ '-----BEGIN [A-Z ]*PRIVATE KEY-----' or s ~* '^(bearer|basic) ' then
        s := regexp_replace(s, '(://[^/@\\s:]*:)[^@\\s]*@', '\\1***@', 'g');
        s := regexp_replace(s, '([?&](access_token|token|api_?key|key|secret|password|sig|signature)=)[^&#\\s]*', '\\1***', 'gi');
        s := regexp_replace(s, '-----BEGIN ([A-Z ]*)PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----', '***', 'g');
        s := regexp_replace(s, '^(bearer|basic) .*$', '\\1 ***', 'i');
        return to_jsonb(s);
      end if;
      return v;
    when 'object' then
      out := '{}'::jsonb;
      for e in select key, value from jsonb_each(v) loop
        out := out || jsonb_build_object(e.key, audit_mask(e.key, e.value));
      end loop;
      return out;
    when 'array' then
      select coalesce(jsonb_agg(audit_mask(null, x)), '[]'::jsonb) into out from jsonb_array_elements(v) x;
      return out;
    else
      return v;
  end case;
end $$;`);

    // ---- the generic row trigger ----
    // Set-based (one query per row change, no per-column loop); audit_mask() is only called for values that
    // could hold a secret (sensitive key, URL with credentials/query secrets, PEM, auth header, nested JSON).
    const needsMask = (k, v) =>
      `(${k} ~* key_pattern or (jsonb_typeof(${v}) in ('object', 'array') and ${v} not in ('{}'::jsonb, '[]'::jsonb)) or (jsonb_typeof(${v}) = 'string' and ${v}::text ~* '(://[^/@\\s:]*:[^@\\s]*@|[?&](access_token|token|api_?key|key|secret|password|sig|signature)=|-----BEGIN|^"(bearer|basic) )'))`;
    const masked = (k, v) => `case when ${needsMask(k, `(${v})`)} then audit_mask(${k}, ${v}) else ${v} end`;
    this.addSql(`create function "audit_row_change"() returns trigger language plpgsql as $$
declare
  key_pattern text := coalesce(nullif(current_setting('taskmaster.audit_mask_keys', true), ''),
    '(pass(word|wd|phrase)?|secret|token|api[_-]?key|apikey|authorization|private[_-]?key|credential|cookie|session[_-]?id)');
  old_j jsonb;
  new_j jsonb;
  act text;
  changed text[];
  o jsonb;
  n jsonb;
  ip text;
begin
  if tg_op = 'INSERT' then
    new_j := to_jsonb(new) - 'search_vector';
    act := 'create';
    select array_agg(e.key), jsonb_object_agg(e.key, ${masked("e.key", "e.value")})
      into changed, n
      from jsonb_each(new_j) e where e.value <> 'null'::jsonb;
  elsif tg_op = 'DELETE' then
    old_j := to_jsonb(old) - 'search_vector';
    act := case when old_j ? 'deleted_at' then 'purge' else 'delete' end;
    select array_agg(e.key), jsonb_object_agg(e.key, ${masked("e.key", "e.value")})
      into changed, o
      from jsonb_each(old_j) e where e.value <> 'null'::jsonb;
  else
    old_j := to_jsonb(old) - 'search_vector';
    new_j := to_jsonb(new) - 'search_vector';
    select array_agg(e.key), jsonb_object_agg(e.key, ${masked("e.key", "old_j -> e.key")}),
           jsonb_object_agg(e.key, ${masked("e.key", "e.value")})
      into changed, o, n
      from jsonb_each(new_j) e
     where e.key <> 'updated_at' and e.value is distinct from old_j -> e.key;
    if changed is null then
      return null; -- nothing but a touch of updated_at: no change to audit
    end if;
    if 'deleted_at' = any(changed) and new_j -> 'deleted_at' <> 'null'::jsonb and old_j -> 'deleted_at' = 'null'::jsonb then
      act := 'delete';
    elsif 'deleted_at' = any(changed) and new_j -> 'deleted_at' = 'null'::jsonb then
      act := 'restore';
    elsif 'status' = any(changed) then
      act := 'status_change';
    else
      act := 'update';
    end if;
  end if;
  ip := nullif(current_setting('taskmaster.client_ip', true), '');
  insert into audit_log (id, entity_type, entity_id, action, changed_fields, old_values, new_values,
                         actor, request_id, trace_id, client_ip, user_agent)
  values (gen_random_uuid(), tg_argv[0], coalesce(new_j, old_j) ->> 'id', act, coalesce(changed, '{}'), o, n,
          left(nullif(current_setting('taskmaster.actor', true), ''), 255),
          left(nullif(current_setting('taskmaster.request_id', true), ''), 255),
          left(nullif(current_setting('taskmaster.trace_id', true), ''), 64),
          case when ip ~ '^[0-9a-fA-F:.]{2,45}$' then ip::inet end,
          left(nullif(current_setting('taskmaster.user_agent', true), ''), 1000));
  return null;
end $$;`);
    for (const [table, entity] of Object.entries(AUDITED)) {
      this.addSql(
        `create trigger "${table}_audit" after insert or update or delete on "${table}" for each row execute function "audit_row_change"('${entity}');`,
      );
    }

    // ---- sealing and verification ----
    this.addSql(`create function "audit_seal"(max_rows integer default 100000) returns integer
language plpgsql security definer as $$
declare
  prev varchar(64);
  r record;
  h varchar(64);
  sealed integer := 0;
begin
  perform ${SEAL_LOCK};
  select last_hash into prev from audit_chain_state where id = 1 for update;
  for r in select a.id, a.occurred_at, a.hash from audit_log a where a.prev_hash is null order by a.seq limit max_rows loop
    h := audit_chain_hash(prev, r.hash);
    update audit_log set prev_hash = prev, hash = h where id = r.id and occurred_at = r.occurred_at;
    prev := h;
    sealed := sealed + 1;
  end loop;
  if sealed > 0 then
    update audit_chain_state set last_hash = prev, sealed_rows = sealed_rows + sealed, updated_at = now() where id = 1;
  end if;
  return sealed;
end $$;`);
    this.addSql(`create function "audit_verify"(max_problems integer default 1)
returns table (seq bigint, id uuid, occurred_at timestamptz, problem text)
language plpgsql stable as $$
#variable_conflict use_column
declare
  st record;
begin
  select * into st from audit_chain_state s where s.id = 1;
  return query
  with lr as (
    select a.seq, a.id, a.occurred_at, a.prev_hash, a.hash, audit_content_hash(a) as content,
           count(*) over (partition by a.prev_hash) as siblings
      from audit_log a
  ), known as (
    select distinct k.hash from lr k where k.hash is not null
  ), checked as (
    select r.seq, r.id, r.occurred_at,
      case
        when r.hash is null then 'hash missing'
        when r.prev_hash is null and r.hash <> r.content then 'content does not match its hash (unsealed row modified)'
        when r.prev_hash is null then null
        when r.hash <> audit_chain_hash(r.prev_hash, r.content) then 'content does not match its hash (row modified)'
        when r.prev_hash <> '${GENESIS}' and not (r.prev_hash = any(st.anchors)) and p.hash is null
          then 'previous link missing (row deleted or hash altered)'
        when r.siblings > 1 then 'chain forks (two rows claim the same predecessor)'
      end as problem
    from lr r left join known p on p.hash = r.prev_hash
  )
  select c.seq, c.id, c.occurred_at, c.problem from checked c where c.problem is not null
  union all
  select null::bigint, null::uuid, null::timestamptz, 'chain end missing (last sealed row deleted or altered)'
   where st.last_hash <> '${GENESIS}' and not (st.last_hash = any(st.anchors))
     and not exists (select 1 from known k where k.hash = st.last_hash)
  order by 1 nulls last
  limit max_problems;
end $$;`);

    // ---- partitions and retention ----
    this.addSql(`create function "audit_ensure_partitions"(months_ahead integer default 3)
returns setof text language plpgsql security definer as $$
declare
  m timestamptz;
  stop timestamptz;
  part text;
  r text;
begin
  -- Earlier months that have rows in the default partition, then the current UTC month up to months_ahead.
  stop := (date_trunc('month', now() at time zone 'UTC') + make_interval(months => greatest(months_ahead, 0))) at time zone 'UTC';
  for m in
    select distinct date_trunc('month', d.occurred_at at time zone 'UTC') at time zone 'UTC' from audit_log_default d
    union
    select g from generate_series(date_trunc('month', now() at time zone 'UTC') at time zone 'UTC', stop, interval '1 month') g
    order by 1
  loop
    part := 'audit_log_p' || to_char(m at time zone 'UTC', 'YYYYMM');
    if to_regclass(quote_ident(part)) is null then
      if exists (select 1 from audit_log_default d where d.occurred_at >= m and d.occurred_at < m + interval '1 month') then
        -- Rows already landed in the default partition: move them into the new partition, then attach it.
        execute format('create table %I (like audit_log including defaults including constraints)', part);
        execute format('with moved as (delete from audit_log_default where occurred_at >= $1 and occurred_at < $2 returning *) insert into %I select * from moved', part)
          using m, m + interval '1 month';
        execute format('alter table audit_log attach partition %I for values from (%L) to (%L)', part, m, m + interval '1 month');
      else
        execute format('create table %I partition of audit_log for values from (%L) to (%L)', part, m, m + interval '1 month');
      end if;
      -- Default privileges may have granted DML on the new table: audit history stays append-only.
      foreach r in array array['taskmaster_app', 'taskmaster_readonly', 'taskmaster_retention'] loop
        if exists (select 1 from pg_roles where rolname = r) then
          execute format('revoke all on %I from %I', part, r);
        end if;
      end loop;
      return next part;
    end if;
  end loop;
end $$;`);
    this.addSql(`create function "audit_drop_expired"(retention_days integer default 90)
returns table (partition_name text, range_start timestamptz, range_end timestamptz, rows_removed bigint)
language plpgsql security definer as $$
declare
  cutoff timestamptz;
  month_start timestamptz;
  p record;
  n bigint;
  new_anchors text[];
begin
  if retention_days is null or retention_days < 1 then
    raise exception 'retention_days must be >= 1 (got %)', retention_days;
  end if;
  perform ${RETENTION_LOCK};
  perform audit_seal();
  cutoff := now() - make_interval(days => retention_days);
  for p in
    select c.relname::text as name
      from pg_inherits i join pg_class c on c.oid = i.inhrelid
     where i.inhparent = 'audit_log'::regclass and c.relname ~ '^audit_log_p[0-9]{6}$'
     order by c.relname
  loop
    month_start := make_timestamptz(substr(p.name, 12, 4)::int, substr(p.name, 16, 2)::int, 1, 0, 0, 0, 'UTC');
    continue when month_start + interval '1 month' > cutoff;
    execute format('select count(*) from %I', p.name) into n;
    -- Surviving rows whose predecessor is about to disappear keep a verifiable anchor.
    execute format('select coalesce(array_agg(a.prev_hash), ''{}'') from audit_log a where a.prev_hash in (select x.hash from %I x) and (a.id, a.occurred_at) not in (select y.id, y.occurred_at from %I y)', p.name, p.name)
      into new_anchors;
    update audit_chain_state set anchors = anchors || new_anchors, updated_at = now() where id = 1;
    execute format('drop table %I', p.name);
    partition_name := p.name;
    range_start := month_start;
    range_end := month_start + interval '1 month';
    rows_removed := n;
    return next;
  end loop;
  -- Stray expired rows in the default partition (only if partitions were missing for a while).
  select coalesce(array_agg(a.prev_hash), '{}') into new_anchors from audit_log a
   where a.prev_hash in (select d.hash from audit_log_default d where d.occurred_at < cutoff)
     and not (a.tableoid = 'audit_log_default'::regclass and a.occurred_at < cutoff);
  with gone as (delete from audit_log_default d where d.occurred_at < cutoff returning 1)
  select count(*) into n from gone;
  if n > 0 then
    update audit_chain_state set anchors = anchors || new_anchors, updated_at = now() where id = 1;
    partition_name := 'audit_log_default';
    range_start := null;
    range_end := cutoff;
    rows_removed := n;
    return next;
  end if;
  perform audit_ensure_partitions(3);
end $$;`);
    // SECURITY DEFINER: pin search_path; partition arithmetic in UTC months whatever the session time zone.
    this.addSql(`do $$ begin
  execute format('alter function audit_seal(integer) set search_path = %I, pg_temp', current_schema());
  execute format('alter function audit_ensure_partitions(integer) set search_path = %I, pg_temp', current_schema());
  execute format('alter function audit_drop_expired(integer) set search_path = %I, pg_temp', current_schema());
  alter function audit_ensure_partitions(integer) set timezone = 'UTC';
  alter function audit_drop_expired(integer) set timezone = 'UTC';
end $$;`);
    this.addSql(`select audit_ensure_partitions(3);`);
    this.addSql(`insert into "audit_log" (${COLUMN_LIST}) select ${COLUMN_LIST} from "audit_log_carry";`);
    this.addSql(
      `select setval(pg_get_serial_sequence('"audit_log"', 'seq'), greatest((select max("seq") from "audit_log"), 1), (select count(*) > 0 from "audit_log"));`,
    );
    this.addSql(`drop table "audit_log_carry";`);

    // ---- privileges ----
    this.addSql(
      `revoke execute on function audit_seal(integer), audit_ensure_partitions(integer), audit_drop_expired(integer) from public;`,
    );
    this.addSql(`do $$
declare
  t record;
  schema_name text := current_schema();
begin
  if (select count(*) from pg_roles where rolname in (${ROLES.map((r) => `'${r}'`).join(", ")})) < ${ROLES.length} then
    raise notice 'taskmaster roles missing: privileges not granted';
    return;
  end if;
  execute format('grant usage on schema %I to taskmaster_app, taskmaster_readonly, taskmaster_retention', schema_name);
  execute format('grant usage, create on schema %I to taskmaster_owner', schema_name);
  for t in
    select c.relname::text as name from pg_class c join pg_namespace ns on ns.oid = c.relnamespace
     where ns.nspname = schema_name and c.relkind in ('r', 'p') and not c.relispartition
       and not exists (select 1 from pg_depend d where d.objid = c.oid and d.deptype = 'e')
  loop
    execute format('grant all on %I to taskmaster_owner', t.name);
    execute format('grant select on %I to taskmaster_readonly', t.name);
    if t.name = 'audit_log' then
      execute format('grant select, insert on %I to taskmaster_app', t.name);
      execute format('grant select on %I to taskmaster_retention', t.name);
    elsif t.name = 'audit_chain_state' then
      execute format('grant select on %I to taskmaster_app', t.name);
    elsif t.name like 'mikro_orm_migrations%' then
      execute format('grant select on %I to taskmaster_app', t.name);
    else
      execute format('grant select, insert, update, delete on %I to taskmaster_app', t.name);
    end if;
  end loop;
  execute format('grant usage, select on all sequences in schema %I to taskmaster_app, taskmaster_owner', schema_name);
  execute format('grant execute on function audit_seal(integer) to taskmaster_app, taskmaster_retention, taskmaster_owner');
  execute format('grant execute on function audit_ensure_partitions(integer), audit_drop_expired(integer) to taskmaster_retention, taskmaster_owner');
  -- Tables and sequences created by later migrations (run by this same user) are usable by the services.
  execute format('alter default privileges in schema %I grant select, insert, update, delete on tables to taskmaster_app', schema_name);
  execute format('alter default privileges in schema %I grant select on tables to taskmaster_readonly', schema_name);
  execute format('alter default privileges in schema %I grant all on tables to taskmaster_owner', schema_name);
  execute format('alter default privileges in schema %I grant usage, select on sequences to taskmaster_app, taskmaster_owner', schema_name);
end $$;`);
  }

  async down() {
    this.addSql(`do $$
declare
  schema_name text := current_schema();
  r text;
begin
  foreach r in array array[${ROLES.map((r) => `'${r}'`).join(", ")}] loop
    if exists (select 1 from pg_roles where rolname = r) then
      execute format('alter default privileges in schema %I revoke all on tables from %I', schema_name, r);
      execute format('alter default privileges in schema %I revoke all on sequences from %I', schema_name, r);
      execute format('revoke all on all tables in schema %I from %I', schema_name, r);
      execute format('revoke all on all sequences in schema %I from %I', schema_name, r);
      execute format('revoke all on all functions in schema %I from %I', schema_name, r);
      execute format('revoke all on schema %I from %I', schema_name, r);
    end if;
  end loop;
end $$;`);
    for (const table of Object.keys(AUDITED)) {
      this.addSql(`drop trigger if exists "${table}_audit" on "${table}";`);
    }
    this.addSql(`create temporary table "audit_log_carry" as select ${COLUMN_LIST} from "audit_log";`);
    this.addSql(`drop function if exists "audit_drop_expired"(integer);`);
    this.addSql(`drop function if exists "audit_ensure_partitions"(integer);`);
    this.addSql(`drop function if exists "audit_verify"(integer);`);
    this.addSql(`drop function if exists "audit_seal"(integer);`);
    this.addSql(`drop function if exists "audit_row_change"();`);
    this.addSql(`drop function if exists "audit_mask"(text, jsonb);`);
    this.addSql(`drop table if exists "audit_log" cascade;`);
    this.addSql(`drop function if exists "audit_log_before_insert"();`);
    this.addSql(`drop function if exists "audit_chain_hash"(varchar, varchar);`);
    this.addSql(`drop function if exists "audit_content_hash"("audit_log");`);
    this.addSql(`drop table if exists "audit_chain_state";`);
    // The original (unpartitioned) audit_log of the initial schema.
    this.addSql(`create table "audit_log" (${AUDIT_LOG_COLUMNS}, primary key ("id"));`);
    this.addSql(`alter table "audit_log" add constraint "audit_log_seq_uniq" unique ("seq");`);
    this.addSql(
      `create index "audit_log_entity_idx" on "audit_log" ("entity_type", "entity_id", "occurred_at");`,
    );
    this.addSql(`create index "audit_log_actor_idx" on "audit_log" ("actor", "occurred_at");`);
    this.addSql(`create index "audit_log_action_idx" on "audit_log" ("action", "occurred_at");`);
    this.addSql(`create index "audit_log_occurred_at_idx" on "audit_log" ("occurred_at");`);
    this.addSql(
      `alter table "audit_log" add constraint "audit_log_entity_type_check" check (entity_type ~ '^[a-z][a-z0-9_]{0,63}$');`,
    );
    this.addSql(
      `alter table "audit_log" add constraint "audit_log_action_check" check (action in ('create', 'update', 'delete', 'status_change', 'restore', 'purge'));`,
    );
    this.addSql(
      `alter table "audit_log" add constraint "audit_log_hash_check" check (hash is null or hash ~ '^[0-9a-f]{64}$');`,
    );
    this.addSql(
      `alter table "audit_log" add constraint "audit_log_prev_hash_check" check (prev_hash is null or prev_hash ~ '^[0-9a-f]{64}$');`,
    );
    this.addSql(`insert into "audit_log" (${COLUMN_LIST}) select ${COLUMN_LIST} from "audit_log_carry";`);
    this.addSql(
      `select setval(pg_get_serial_sequence('"audit_log"', 'seq'), greatest((select max("seq") from "audit_log"), 1), (select count(*) > 0 from "audit_log"));`,
    );
    this.addSql(`drop table "audit_log_carry";`);
  }
}
