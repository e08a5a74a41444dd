-- PnL per day: the last cycle of each UTC day carries that day's realized PnL so far.
-- Money is decimal text in the audit record: cast it, never to double.
SELECT dt, mode, realized_today, realized_total, fees_total, equity
FROM (
    SELECT
        dt,
        mode,
        CAST(state.pnl.realized_today AS DECIMAL(38, 18)) AS realized_today,
        CAST(state.pnl.realized_total AS DECIMAL(38, 18)) AS realized_total,
        CAST(state.pnl.fees_total AS DECIMAL(38, 18)) AS fees_total,
        CAST(state.equity AS DECIMAL(38, 18)) AS equity,
        row_number() OVER (PARTITION BY dt, mode ORDER BY started_at DESC) AS latest
    FROM trader247_dev.audit
    WHERE record_type IS NULL AND state.pnl IS NOT NULL
)
WHERE latest = 1
ORDER BY dt DESC, mode;
