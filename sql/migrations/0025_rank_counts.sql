-- Ranks without counting the users ahead. A rank is 1 + the users with more XP on the board; counting them walks
-- one index entry per user ahead (up to a million). Instead, each board keeps how many users hold each XP value,
-- and a rank sums the counts of the values above: a few thousand rows at most (docs/gamification.md).
--
-- Triggers on the boards' tables append signed changes (+n users at a new XP value, -n at the old one) in the
-- writer's own transaction, so every snapshot sees counts that agree with the totals. Appended rows never wait for
-- one another, where counters updated in place would queue every award at a popular value behind one row lock.
-- The fold-leaderboards job adds the appended rows into the one folded row per value.
create table xp_rank_counts (
    board text not null check (board in ('daily', 'weekly', 'monthly', 'allTime')),
    period_start date not null, -- '-infinity' on the allTime board
    xp bigint not null check (xp > 0),
    users bigint not null,
    folded boolean not null default false
);
create index xp_rank_counts_sum_idx on xp_rank_counts (board, period_start, xp) include (users);
create unique index xp_rank_counts_folded_key on xp_rank_counts (board, period_start, xp) where folded;

create function count_period_ranks() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        insert into xp_rank_counts (board, period_start, xp, users)
        select board, period_start, xp, count(*) from added group by 1, 2, 3;
    elsif tg_op = 'DELETE' then
        insert into xp_rank_counts (board, period_start, xp, users)
        select board, period_start, xp, -count(*) from removed group by 1, 2, 3;
    else
        insert into xp_rank_counts (board, period_start, xp, users)
        select board, period_start, xp, sum(change) from (
            select board, period_start, xp, 1 as change from added
            union all
            select board, period_start, xp, -1 from removed
        ) changes group by 1, 2, 3 having sum(change) <> 0;
    end if;
    return null;
end $$;

-- xp_totals rows start at 0 (the per-user lock row) and are updated in place for the lock too: only positive
-- totals are on the board, and an update that leaves the total as it was nets to nothing.
create function count_all_time_ranks() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        insert into xp_rank_counts (board, period_start, xp, users)
        select 'allTime', '-infinity', total_xp, count(*) from added where total_xp > 0 group by 3;
    elsif tg_op = 'DELETE' then
        insert into xp_rank_counts (board, period_start, xp, users)
        select 'allTime', '-infinity', total_xp, -count(*) from removed where total_xp > 0 group by 3;
    else
        insert into xp_rank_counts (board, period_start, xp, users)
        select 'allTime', '-infinity', total_xp, sum(change) from (
            select total_xp, 1 as change from added where total_xp > 0
            union all
            select total_xp, -1 from removed where total_xp > 0
        ) changes group by 3 having sum(change) <> 0;
    end if;
    return null;
end $$;

-- Transition tables need one trigger per event. Cascaded deletes (account deletion) fire the delete triggers.
create trigger xp_period_totals_inserted_ranks after insert on xp_period_totals
    referencing new table as added for each statement execute function count_period_ranks();
create trigger xp_period_totals_updated_ranks after update on xp_period_totals
    referencing old table as removed new table as added for each statement execute function count_period_ranks();
create trigger xp_period_totals_deleted_ranks after delete on xp_period_totals
    referencing old table as removed for each statement execute function count_period_ranks();
create trigger xp_totals_inserted_ranks after insert on xp_totals
    referencing new table as added for each statement execute function count_all_time_ranks();
create trigger xp_totals_updated_ranks after update on xp_totals
    referencing old table as removed new table as added for each statement execute function count_all_time_ranks();
create trigger xp_totals_deleted_ranks after delete on xp_totals
    referencing old table as removed for each statement execute function count_all_time_ranks();

-- The counts of what the boards already hold, folded.
insert into xp_rank_counts (board, period_start, xp, users, folded)
select board, period_start, xp, count(*), true from xp_period_totals group by 1, 2, 3
union all
select 'allTime', '-infinity', total_xp, count(*), true from xp_totals where total_xp > 0 group by 3;
