package ghfake

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// handle applies a request and returns the answer and the installation it
// counted against (0 for App JWT calls).
func (s *Server) handle(r *http.Request, p string, body []byte, e *Request) (answer, int64) {
	seg := strings.Split(strings.Trim(p, "/"), "/")
	switch {
	case r.Method == "GET" && p == "/app":
		e.JWT = true
		if _, a := s.authenticate(r, true); a != nil {
			return *a, 0
		}
		return jsonAnswer(200, map[string]any{"id": s.appID, "slug": s.appSlug, "name": s.appSlug}), 0
	case r.Method == "POST" && len(seg) == 4 && seg[0] == "app" && seg[1] == "installations" && seg[3] == "access_tokens":
		e.JWT = true
		if _, a := s.authenticate(r, true); a != nil {
			return *a, 0
		}
		id, _ := strconv.ParseInt(seg[2], 10, 64)
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.installations[id]; !ok {
			return message(404, "Not Found"), 0
		}
		tok := newToken()
		s.tokens[tok] = id
		s.issued = append(s.issued, tok)
		return jsonAnswer(201, map[string]any{
			"token":      tok,
			"expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
			"permissions": map[string]string{
				"actions": "write", "contents": "read", "issues": "write", "metadata": "read",
			},
		}), 0
	case r.Method == "GET" && len(seg) == 4 && seg[0] == "repos" && seg[3] == "installation":
		e.JWT = true
		if _, a := s.authenticate(r, true); a != nil {
			return *a, 0
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		id, ok := s.installationOf(seg[1] + "/" + seg[2])
		if !ok {
			return message(404, "Not Found"), 0
		}
		return jsonAnswer(200, map[string]any{"id": id, "app_id": s.appID, "app_slug": s.appSlug,
			"account": map[string]any{"login": seg[1]}}), 0
	}
	if len(seg) < 3 || seg[0] != "repos" {
		return message(404, "Not Found"), 0
	}
	inst, a := s.authenticate(r, false)
	if a != nil {
		return *a, 0
	}
	full := seg[1] + "/" + seg[2]
	s.mu.Lock()
	repo, ok := s.repos[strings.ToLower(full)]
	covered := s.covers(inst, full)
	s.mu.Unlock()
	if !ok || !covered {
		return message(404, "Not Found"), inst
	}
	rest := seg[3:]
	switch {
	case r.Method == "GET" && len(rest) == 0:
		return jsonAnswer(200, s.repoJSON(repo)), inst
	case r.Method == "GET" && len(rest) >= 2 && rest[0] == "contents":
		return s.contents(r, repo, strings.Join(rest[1:], "/")), inst
	case r.Method == "GET" && len(rest) == 3 && rest[0] == "actions" && rest[1] == "runs":
		id, _ := strconv.ParseInt(rest[2], 10, 64)
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, run := range s.runs {
			if run.ID == id && strings.EqualFold(run.Repository, full) {
				return jsonAnswer(200, s.runJSON(run)), inst
			}
		}
		return message(404, "Not Found"), inst
	case r.Method == "GET" && len(rest) == 4 && rest[0] == "actions" && rest[1] == "workflows" && rest[3] == "runs":
		return s.listRuns(r, repo, rest[2]), inst
	case r.Method == "POST" && len(rest) == 4 && rest[0] == "actions" && rest[1] == "workflows" && rest[3] == "dispatches":
		return s.mutate(inst, func() answer { return s.dispatch(repo, rest[2], body, inst) }), inst
	case r.Method == "POST" && len(rest) == 1 && rest[0] == "issues":
		return s.mutate(inst, func() answer { return s.createIssue(repo, body) }), inst
	}
	return message(404, "Not Found"), inst
}

// mutate runs f and flags concurrent mutating requests of one
// installation (GitHub asks clients to serialise them).
func (s *Server) mutate(inst int64, f func() answer) answer {
	s.mu.Lock()
	s.inFlight[inst]++
	n := s.inFlight[inst]
	s.mu.Unlock()
	if n > 1 {
		s.violate("%d concurrent mutating requests for installation %d", n, inst)
	}
	defer func() {
		s.mu.Lock()
		s.inFlight[inst]--
		s.mu.Unlock()
	}()
	// Widen the window in which a concurrent request would be noticed.
	if s.mutationWindow > 0 {
		time.Sleep(s.mutationWindow)
	}
	return f()
}

func (s *Server) repoJSON(r *Repo) map[string]any {
	owner, name, _ := strings.Cut(r.FullName, "/")
	return map[string]any{
		"id": len(r.FullName) * 1000, "name": name, "full_name": r.FullName,
		"owner":          map[string]any{"login": owner, "type": "Organization"},
		"default_branch": r.DefaultBranch, "private": true,
		"html_url": "https://github.example/" + r.FullName,
	}
}

func (s *Server) contents(r *http.Request, repo *Repo, p string) answer {
	s.mu.Lock()
	override, hasOverride := s.overrides[strings.ToLower(repo.FullName)+"\x00"+p]
	content, isFile := repo.Files[p]
	var dir []map[string]any
	if !isFile {
		seen := map[string]bool{}
		for f := range repo.Files {
			if rest, ok := strings.CutPrefix(f, p+"/"); ok {
				name, _, sub := strings.Cut(rest, "/")
				if seen[name] {
					continue
				}
				seen[name] = true
				typ := "file"
				if sub {
					typ = "dir"
				}
				dir = append(dir, map[string]any{"type": typ, "name": name, "path": p + "/" + name})
			}
		}
	}
	s.mu.Unlock()
	var raw []byte
	switch {
	case hasOverride:
		raw = override
	case isFile:
		raw, _ = json.Marshal(map[string]any{
			"type": "file", "encoding": "base64", "size": len(content),
			"name": path.Base(p), "path": p, "sha": fmt.Sprintf("%x", len(content)),
			"content": wrap76(base64.StdEncoding.EncodeToString([]byte(content))),
		})
	case dir != nil:
		sort.Slice(dir, func(i, j int) bool { return dir[i]["name"].(string) < dir[j]["name"].(string) })
		raw, _ = json.Marshal(dir)
	default:
		return message(404, "Not Found")
	}
	// ETags are specific to the token, as on GitHub.
	_, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	etag := etagOf(tok, raw)
	h := http.Header{}
	h.Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		return answer{status: http.StatusNotModified, header: h}
	}
	return answer{status: 200, header: h, body: json.RawMessage(raw)}
}

// wrap76 splits base64 into lines, as the contents API does.
func wrap76(s string) string {
	var b strings.Builder
	for len(s) > 60 {
		b.WriteString(s[:60])
		b.WriteByte('\n')
		s = s[60:]
	}
	b.WriteString(s)
	b.WriteByte('\n')
	return b.String()
}

func (s *Server) runJSON(r *Run) map[string]any {
	owner, name, _ := strings.Cut(r.Repository, "/")
	api := strings.TrimSuffix(s.URL(), "/")
	m := map[string]any{
		"id": r.ID, "name": r.Name, "path": r.WorkflowPath, "event": r.Event,
		"status": r.Status, "conclusion": nil, "head_branch": nil, "head_sha": r.HeadSHA,
		"run_attempt": r.RunAttempt, "run_number": r.ID % 1000,
		"url":              fmt.Sprintf("%s/repos/%s/actions/runs/%d", api, r.Repository, r.ID),
		"html_url":         fmt.Sprintf("https://github.example/%s/actions/runs/%d", r.Repository, r.ID),
		"created_at":       r.CreatedAt.UTC().Format(time.RFC3339),
		"updated_at":       r.CreatedAt.UTC().Format(time.RFC3339),
		"actor":            map[string]any{"login": r.Actor},
		"triggering_actor": map[string]any{"login": r.Actor},
		"repository":       map[string]any{"full_name": r.Repository, "name": name, "owner": map[string]any{"login": owner}},
	}
	if r.Conclusion != "" {
		m["conclusion"] = r.Conclusion
	}
	if r.HeadBranch != nil {
		m["head_branch"] = *r.HeadBranch
	}
	if r.HeadRepository != "" {
		m["head_repository"] = map[string]any{"full_name": r.HeadRepository}
	}
	return m
}

func (s *Server) listRuns(r *http.Request, repo *Repo, workflow string) answer {
	q := r.URL.Query()
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.hasWorkflow(repo, workflow) {
		return message(404, "Not Found")
	}
	var since time.Time
	if c := q.Get("created"); c != "" {
		v, ok := strings.CutPrefix(c, ">=")
		t, err := time.Parse(time.RFC3339, v)
		if !ok || err != nil {
			return message(422, "ghfake supports only created=>=RFC3339")
		}
		since = t
	}
	var out []*Run
	for _, run := range s.runs {
		if !strings.EqualFold(run.Repository, repo.FullName) || path.Base(run.WorkflowPath) != workflow {
			continue
		}
		if e := q.Get("event"); e != "" && run.Event != e {
			continue
		}
		if b := q.Get("branch"); b != "" && (run.HeadBranch == nil || *run.HeadBranch != b) {
			continue
		}
		if run.CreatedAt.Before(since) || now.Before(run.listAt) {
			continue
		}
		out = append(out, run)
	}
	sortRunsNewestFirst(out)
	perPage := 30
	if v, err := strconv.Atoi(q.Get("per_page")); err == nil && v > 0 {
		perPage = min(v, 100)
	}
	total := len(out)
	if page, err := strconv.Atoi(q.Get("page")); err == nil && page > 1 {
		out = out[min((page-1)*perPage, len(out)):]
	}
	if len(out) > perPage {
		out = out[:perPage]
	}
	list := []any{}
	for _, run := range out {
		list = append(list, s.runJSON(run))
	}
	return jsonAnswer(200, map[string]any{"total_count": total, "workflow_runs": list})
}

func (s *Server) hasWorkflow(repo *Repo, workflow string) bool {
	for _, dir := range []string{".github/workflows/"} {
		if _, ok := repo.Files[dir+workflow]; ok {
			return true
		}
	}
	return false
}

func (s *Server) dispatch(repo *Repo, workflow string, body []byte, inst int64) answer {
	var req struct {
		Ref              string            `json:"ref"`
		Inputs           map[string]string `json:"inputs"`
		ReturnRunDetails *bool             `json:"return_run_details"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return message(400, "Problems parsing JSON")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rejectRunDetails && req.ReturnRunDetails != nil {
		return message(400, "Invalid request.\n\n\"return_run_details\" is not a permitted key.")
	}
	if !s.hasWorkflow(repo, workflow) {
		return message(404, "Not Found")
	}
	validRef := req.Ref == repo.DefaultBranch || req.Ref == "refs/heads/"+repo.DefaultBranch
	for _, b := range repo.Branches {
		validRef = validRef || req.Ref == b || req.Ref == "refs/heads/"+b
	}
	if !validRef {
		return message(422, "No ref found for: "+req.Ref)
	}
	if !s.noWorkflowCheck {
		if a := checkDispatch(repo.Files[".github/workflows/"+workflow], req.Inputs); a != nil {
			return *a
		}
	}
	s.nextRunID++
	ref := strings.TrimPrefix(req.Ref, "refs/heads/")
	run := &Run{
		ID: s.nextRunID, Repository: repo.FullName, WorkflowPath: ".github/workflows/" + workflow,
		Name: workflow, Event: "workflow_dispatch", Status: "queued", HeadBranch: &ref,
		RunAttempt: 1, Actor: s.appSlug + "[bot]", CreatedAt: s.now(),
	}
	run.listAt = run.CreatedAt.Add(s.listingDelay)
	s.runs = append(s.runs, run)
	details := req.ReturnRunDetails != nil && *req.ReturnRunDetails
	s.dispatches = append(s.dispatches, Dispatch{
		Repository: repo.FullName, Workflow: workflow, Ref: req.Ref, Inputs: req.Inputs,
		RunDetails: details, RunID: run.ID, Installation: inst, Body: append(json.RawMessage(nil), body...),
		At: run.CreatedAt,
	})
	if !details {
		return answer{status: http.StatusNoContent}
	}
	j := s.runJSON(run)
	return jsonAnswer(200, map[string]any{"workflow_run_id": run.ID, "run_url": j["url"], "html_url": j["html_url"]})
}

func (s *Server) createIssue(repo *Repo, body []byte) answer {
	var req struct {
		Title string `json:"title"`
		Body  string `json:"body"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Title == "" {
		return message(422, "Validation Failed")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.issues) + 1
	s.issues = append(s.issues, Issue{Repository: repo.FullName, Number: n, Title: req.Title, Body: req.Body})
	return jsonAnswer(201, map[string]any{"number": n, "title": req.Title,
		"html_url": fmt.Sprintf("https://github.example/%s/issues/%d", repo.FullName, n)})
}
