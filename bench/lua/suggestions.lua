-- Appended to the suggest-100k scenario: counts the answers by how many suggestions they carry
-- (counters.suggestions_<n>, n = the number of `"matched":` fields, one per suggestion).
counters = {}

function after_response(status, headers, body)
  local n = 0
  if body then
    for _ in string.gmatch(body, '"matched":') do
      n = n + 1
    end
  end
  local key = "suggestions_" .. n
  counters[key] = (counters[key] or 0) + 1
end
