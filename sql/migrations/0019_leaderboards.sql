-- Leaderboards: each award also adds its XP to the user's daily, weekly (ISO, Monday) and monthly totals, whose
-- period starts (UTC) come from one Python function (app/gamification/periods.py), so SQL and code cannot
-- disagree on a boundary. The all-time board reads xp_totals. Ranks are 1 + the number of users with more XP.

create table xp_period_totals (
    board text not null check (board in ('daily', 'weekly', 'monthly')),
    period_start date not null,
    user_id uuid not null references users (id) on delete cascade,
    xp bigint not null check (xp > 0),
    primary key (board, period_start, user_id)
);
-- A page is a walk down this index; a rank counts the entries above a user's XP.
create index xp_period_totals_rank_idx on xp_period_totals (board, period_start, xp desc, user_id);
create index xp_totals_rank_idx on xp_totals (total_xp desc, user_id) where total_xp > 0;

-- What the existing ledger already earned.
insert into xp_period_totals (board, period_start, user_id, xp)
select 'daily', (awarded_at at time zone 'UTC')::date, user_id, sum(amount) from xp_ledger group by 2, 3
union all
select 'weekly', date_trunc('week', awarded_at at time zone 'UTC')::date, user_id, sum(amount) from xp_ledger
group by 2, 3
union all
select 'monthly', date_trunc('month', awarded_at at time zone 'UTC')::date, user_id, sum(amount) from xp_ledger
group by 2, 3;
