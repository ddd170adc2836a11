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
