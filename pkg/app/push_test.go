package app_test

import (
	"path/filepath"
	"testing"
)

// With CONFIG_CACHE_TTL, a warm delivery reads no dispatching.yml; a push
// that changes acme/deploy's dispatching.yml on its default branch evicts
// that repository's cached copy, and nothing else: the next delivery reads
// acme/deploy again and no other repository.
func TestServePushEvictsOnlyTheChangedConfig(t *testing.T) {
	t.Parallel()
	fake := newWorld(t)
	db := filepath.Join(t.TempDir(), "dispatcher.db")
	st := loadSettings(t, env(fake, db, map[string]string{"CREATE_ISSUES": "false", "CONFIG_CACHE_TTL": "1h"}))
	srv := start(t, st)
	store := srv.App.Store
	deliver := func(id string, run int64, want int64) {
		t.Helper()
		if code, b := send(t, srv.URL, "workflow_run", id, payloadFor(t, run)); code != 202 {
			t.Fatalf("%s: %d %s", id, code, b)
		}
		waitFor(t, id+" dispatched", func() bool {
			return summary(t, store).TriggerSucceeded == want && settled(t, store)
		}, dumpState(t, fake, store, srv.Logs))
	}
	reads := func(repo string) int { return fake.Count("GET /repos/" + repo + "/contents/**") }

	deliver("cold", 9101, 2)
	deploy, api, docs := reads("acme/deploy"), reads("acme/api"), reads("acme/docs")
	if deploy == 0 || api == 0 || docs == 0 {
		t.Fatalf("cold delivery read deploy %d, api %d, docs %d times; want each read", deploy, api, docs)
	}
	deliver("warm", 9102, 4)
	if d, a := reads("acme/deploy")-deploy, reads("acme/api")-api; d != 0 || a != 0 {
		t.Fatalf("warm delivery within the TTL read deploy %d and api %d times, want 0", d, a)
	}

	push := func(id, repo, file string) {
		t.Helper()
		body := []byte(`{"ref":"refs/heads/main","before":"a","after":"b","repository":{"full_name":"` + repo +
			`","name":"x","default_branch":"main","owner":{"login":"acme"}},"commits":[{"id":"b","added":[],"removed":[],"modified":["` + file + `"]}]}`)
		if code, b := send(t, srv.URL, "push", id, body); code != 202 {
			t.Fatalf("push %s: %d %s", id, code, b)
		}
	}
	push("push-1", "acme/deploy", "dispatching.yml")
	push("push-2", "acme/docs", "README.md") // not the config: nothing evicted
	deliver("after-push", 9103, 6)
	if d := reads("acme/deploy") - deploy; d != 1 {
		t.Errorf("after the push, acme/deploy was read %d times, want 1 (evicted, then read once)", d)
	}
	if a, o := reads("acme/api")-api, reads("acme/docs")-docs; a != 0 || o != 0 {
		t.Errorf("after the push, acme/api was read %d and acme/docs %d times, want 0 (still cached)", a, o)
	}
}
