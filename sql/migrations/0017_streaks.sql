-- Daily cooking streaks, counted in the user's own time zone: a day with a recipe_cooked claim extends the streak;
-- one missed day spends a freeze token (earned at milestones) automatically; more breaks it. Milestones award XP
-- through xp_actions, once per streak.

alter table users add column time_zone text not null default 'UTC' check (length(time_zone) between 1 and 64);

insert into xp_actions (action, amount, daily_cap, claimable, description) values
    ('streak_3', 30, null, false, 'A 3-day cooking streak (once per streak)'),
    ('streak_7', 100, null, false, 'A 7-day cooking streak (once per streak)'),
    ('streak_14', 200, null, false, 'A 14-day cooking streak (once per streak)'),
    ('streak_30', 500, null, false, 'A 30-day cooking streak (once per streak)'),
    ('streak_60', 1000, null, false, 'A 60-day cooking streak (once per streak)'),
    ('streak_100', 2000, null, false, 'A 100-day cooking streak (once per streak)'),
    ('streak_365', 5000, null, false, 'A 365-day cooking streak (once per streak)');

-- What reaching a streak length gives: the XP of its action, and freeze tokens (at most 3 are held).
create table streak_milestones (
    days integer primary key check (days > 1),
    action text not null unique references xp_actions (action),
    freeze_tokens integer not null default 0 check (freeze_tokens between 0 and 3)
);
insert into streak_milestones (days, action, freeze_tokens) values
    (3, 'streak_3', 0), (7, 'streak_7', 1), (14, 'streak_14', 0), (30, 'streak_30', 1), (60, 'streak_60', 1),
    (100, 'streak_100', 1), (365, 'streak_365', 1);

create table streaks (
    user_id uuid primary key references users (id) on delete cascade,
    current_streak integer not null default 0 check (current_streak >= 0),
    longest_streak integer not null default 0 check (longest_streak >= current_streak),
    -- The local day the current streak began (milestone awards are keyed by it) and the last local day it covers
    -- (a cooking day, or a missed day a freeze token covered).
    started_on date,
    last_day date,
    freeze_tokens integer not null default 0 check (freeze_tokens between 0 and 3),
    freezes_used integer not null default 0 check (freezes_used >= 0),
    updated_at timestamptz not null default now()
);
