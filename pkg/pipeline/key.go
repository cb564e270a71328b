package pipeline

import (
	"strconv"
	"strings"
)

func idempotencyKey(sourceRepo string, runID int64, attempt int, targetRepo, targetWorkflow string) string {
	return strings.Join([]string{
		strings.ToLower(sourceRepo), strconv.FormatInt(runID, 10), strconv.Itoa(attempt),
		strings.ToLower(targetRepo), strings.ToLower(targetWorkflow),
	}, "#")
}
