-- A tiny schema that uses every PostgreSQL type app/db/codegen.py maps.
create type skill_level as enum ('beginner', 'intermediate', 'advanced');

create schema pantry;
create type pantry.unit as enum ('g', 'ml', 'piece');

create table cooks (
    id uuid primary key default gen_random_uuid(),
    email text not null,
    nickname varchar(40),
    country char(2),
    skill skill_level not null default 'beginner',
    badges skill_level[] not null default '{}',
    tags text[] not null default '{}',
    scores integer[],
    age smallint,
    followers bigint not null default 0,
    rating double precision,
    weight real,
    balance numeric(12, 2) not null default 0,
    is_pro boolean not null default false,
    born_on date,
    wakes_at time,
    prep_time interval,
    avatar bytea,
    settings jsonb not null default '{}',
    raw_profile json,
    last_ip inet,
    home_network cidr,
    created_at timestamptz not null default now(),
    imported_at timestamp,
    password_hash text not null,
    "class" text
);

create table pantry.items (
    id bigserial primary key,
    cook_id uuid not null references cooks (id),
    name text not null,
    quantity numeric not null,
    unit pantry.unit not null,
    "from" text
);
