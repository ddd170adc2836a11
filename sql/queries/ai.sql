-- name: AddAiUsage :exec
insert into ai_usage (user_id, day, task, model, calls, prompt_tokens, completion_tokens, cost_microdollars)
values (@user_id, @day, @task, @model, 1, @prompt_tokens, @completion_tokens, @cost_microdollars)
on conflict (user_id, day, task, model) do update set
    calls = ai_usage.calls + 1,
    prompt_tokens = ai_usage.prompt_tokens + excluded.prompt_tokens,
    completion_tokens = ai_usage.completion_tokens + excluded.completion_tokens,
    cost_microdollars = ai_usage.cost_microdollars + excluded.cost_microdollars;

-- name: ListAiUsage :many
-- The account's AI usage per day, task and model (data export).
select day, task, model, calls, prompt_tokens, completion_tokens, cost_microdollars
from ai_usage
where user_id = @user_id
order by day desc, task, model
limit 1000;

-- name: GetAiSpending :one
-- One user's and the whole service's AI cost on a day (micro-dollars), for the daily budgets. Reads only that
-- day's rows (ai_usage_day_idx); the user's share is a filter over the same rows.
select
    coalesce(sum(cost_microdollars) filter (where user_id = @user_id), 0)::bigint as user_microdollars,
    coalesce(sum(cost_microdollars), 0)::bigint as service_microdollars
from ai_usage
where day = @day;
