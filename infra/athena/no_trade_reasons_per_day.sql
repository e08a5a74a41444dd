-- Why it did not buy: cycles per day and NO_TRADE reason ('traded' when orders went out).
-- Replace trader247_dev with the stack's database (trader247_<Environment>).
-- dt and hour are projected partitions: a WHERE on dt reads only those days' objects.
SELECT
    dt,
    coalesce(no_trade_reason, 'traded') AS outcome,
    count(*) AS cycles
FROM trader247_dev.audit
WHERE record_type IS NULL  -- cycle records (liquidations have record_type = 'liquidation')
    AND dt >= date_format(current_date - INTERVAL '30' DAY, '%Y-%m-%d')
GROUP BY dt, coalesce(no_trade_reason, 'traded')
ORDER BY dt DESC, cycles DESC;
