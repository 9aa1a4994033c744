"""A new user's first visit, in a real Chromium: sign up, get approved, log in, pick an
environment and a machine, land in JupyterLab, use a terminal and a notebook."""

from __future__ import annotations

import json
import re
import uuid

import pytest
import requests
from playwright.sync_api import Page, expect, sync_playwright

from floe.client.api import FloeClient
from floe.client.transfer import upload_folder

pytestmark = [pytest.mark.integration, pytest.mark.browser]

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def page(artifacts):
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 860})
        context.set_default_timeout(60_000)
        page = context.new_page()
        try:
            yield page
        finally:
            page.screenshot(path=artifacts / "browser-last.png")
            browser.close()


def shot(page: Page, artifacts, step: str) -> None:
    page.screenshot(path=artifacts / f"browser-{step}.png")


def test_new_user_signs_up_is_approved_and_works_in_jupyterlab(hub, page, artifacts, tmp_path):
    name = f"carol{uuid.uuid4().hex[:4]}"
    password = "floe-" + uuid.uuid4().hex

    # Sign up: the account exists but may not log in until an admin approves it.
    page.goto(f"{hub.url}/hub/signup")
    page.fill("#username_input", name)
    page.fill("#password_input", password)
    page.fill("#password_confirmation_input", password)
    page.click("#signup_submit")
    expect(page.locator("body")).to_contain_text("admin")
    shot(page, artifacts, "01-signed-up")

    page.goto(f"{hub.url}/hub/login")
    page.fill("#username_input", name)
    page.fill("#password_input", password)
    page.click("#login_submit")
    expect(page.locator("body")).to_contain_text("has not been authorized")
    shot(page, artifacts, "02-waiting-for-approval")

    admin = hub.login_session("admin", hub.admin_password)
    assert admin.get(f"{hub.url}/hub/authorize/{name}", timeout=30).status_code == 200

    # Carol has a dataset (uploaded from her laptop) to mount in her workspace.
    assert hub.api("POST", f"/users/{name}").status_code == 201
    token = hub.api("POST", f"/users/{name}/tokens", json={"note": "laptop"}).json()["token"]
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "hello.txt").write_text("hello from a dataset")
    client = FloeClient(hub.url, token)
    client.create_dataset("notes")
    upload_folder(client, f"{name}/notes", notes, "first notes")
    # And a team (a hub group) whose dataset she mounts too.
    team = f"lab{uuid.uuid4().hex[:4]}"
    assert hub.api("POST", f"/groups/{team}", json={"users": [name]}).status_code == 201
    client.create_dataset("corpus", owner=team)
    upload_folder(client, f"{team}/corpus", notes, "the team's copy")

    # Log in, choose environment and machine type on the spawn form.
    page.goto(f"{hub.url}/hub/login")
    page.fill("#username_input", name)
    page.fill("#password_input", password)
    page.click("#login_submit")
    expect(page.locator("input[name=machine][value=cpu-large]")).to_be_visible()

    # The datasets page shows hers under "Mine" and the team's under the team.
    page.goto(f"{hub.url}/services/floe/datasets")
    expect(page.locator("table[data-section='Mine']")).to_contain_text(f"{name}/notes")
    expect(page.locator(f"table[data-section='Team {team}']")).to_contain_text(f"{team}/corpus")
    expect(page.locator("h2", has_text=f"Team {team}")).to_be_visible()
    shot(page, artifacts, "01b-datasets-by-team")

    # An environment of their own, made on its page: python plus a package from the index.
    page.goto(f"{hub.url}/services/floe/environments")
    page.fill("#make input[name=name]", "tab")
    page.select_option("#make select[name=from]", "python")
    page.fill("#make textarea[name=requirements]", "tabulate==0.9.0\n")
    page.click("#make button[type=submit]")
    page.wait_for_url(re.compile(rf"/environments/{name}/tab/1"))
    expect(page.locator("#state")).to_have_text("ready", timeout=300_000)  # the page refreshes
    expect(page.locator("#log")).to_contain_text(f"{name}/tab:1 is ready")
    shot(page, artifacts, "02b-environment-made")
    # It is offered on the spawn form (and, below, in Run as job).
    page.goto(f"{hub.url}/hub/spawn")
    expect(page.locator(f"input[name=environment][value='{name}/tab:1']")).to_be_visible()
    expect(page.locator("input[name=machine][value=gpu-1]")).to_be_visible()
    page.check("input[name=environment][value=python]")
    page.check("input[name=machine][value=cpu-large]")
    page.select_option("select[name=dataset] >> nth=0", f"{name}/notes:1")
    team_group = page.locator(f"select[name=dataset] >> nth=1 >> optgroup[label='Team {team}']")
    expect(team_group.locator("option")).to_have_text([f"{team}/corpus:1"])
    shot(page, artifacts, "03-options-form")

    # xterm draws on a canvas; in screen-reader mode (a user setting) it also writes its rows
    # into the page, where a test can read them. It is set the moment JupyterLab first asks
    # for its settings, so the page never needs a reload.
    def with_screen_reader_terminal(route):
        if not getattr(with_screen_reader_terminal, "done", False):
            resp = requests.put(
                hub.user_url(name, "lab/api/settings/@jupyterlab/terminal-extension:plugin"),
                headers={"Authorization": f"token {hub.admin_token}"},
                json={"raw": json.dumps({"screenReaderMode": True})},
                timeout=30,
            )
            with_screen_reader_terminal.done = resp.status_code == 204
        route.continue_()

    page.route(re.compile(r"/lab/api/settings"), with_screen_reader_terminal)
    page.click("#spawn_form input[type=submit], #spawn_form button[type=submit]")

    # JupyterLab, in the user's own container.
    page.wait_for_url(re.compile(rf"/user/{name}/lab"), timeout=180_000)
    launcher = page.locator(".jp-Launcher")
    expect(launcher).to_be_visible(timeout=120_000)
    shot(page, artifacts, "04-jupyterlab")

    # A notebook: run a cell, see its result.
    page.locator(".jp-LauncherCard[data-category='Notebook']").first.click()
    # The kernel is connected once the status bar says so; cells run before that can be lost.
    expect(page.locator(".jp-StatusBar-Widget", has_text="| Idle").first).to_be_visible(
        timeout=120_000
    )
    cell = page.locator(".jp-Notebook .jp-Cell .cm-content").first
    cell.click()
    page.keyboard.type('print(sum(range(10)) * 7, open("/output/mine.txt", "w").write("kept"))')
    page.keyboard.press("Shift+Enter")
    expect(page.locator(".jp-OutputArea-output").first).to_contain_text("315", timeout=120_000)
    shot(page, artifacts, "05-notebook-cell-ran")
    # A second cell, typed but never run or saved here: the job runs it as the editor shows it.
    page.keyboard.type(
        "import json, time; [print(json.dumps({'step': i, 'acc': 0.5 + i / 10})) "
        "or time.sleep(1) for i in range(3)]; "
        "open('/output/result.txt', 'w').write('from the job')"
    )

    # A terminal: type a command, see what it printed.
    page.click(".lm-MenuBar-itemLabel:text-is('File')")
    page.click(".lm-Menu-itemLabel:text-is('New')")
    page.click(".lm-Menu-itemLabel:text-is('Terminal')")
    terminal_tab = page.locator(".lm-TabBar-tab", has_text="jovyan@").last
    expect(terminal_tab).to_be_visible(timeout=60_000)
    terminal_tab.click()  # xterm only draws (and fills its reader rows) while visible
    terminal = page.locator(".jp-Terminal .xterm").last
    expect(terminal).to_be_visible(timeout=60_000)
    terminal.click()
    page.keyboard.type("echo floe-$((6*7)) on $(hostname); cat /input/notes/hello.txt")
    page.keyboard.press("Enter")
    rows = page.locator(".jp-Terminal .xterm-accessibility-tree").last
    expect(rows).to_contain_text("floe-42 on", timeout=60_000)
    expect(rows).to_contain_text("hello from a dataset", timeout=30_000)
    shot(page, artifacts, "06-terminal")

    # Run as job: the dialog, then the job's page, live until it completes.
    page.locator(".lm-TabBar-tab", has_text="Untitled.ipynb").first.click()
    page.click(".floe-run-as-job button, button.floe-run-as-job, .floe-run-as-job")
    dialog = page.locator(".jp-Dialog")
    expect(dialog.locator("#floe-machine")).to_be_visible()
    expect(dialog.locator("#floe-datasets")).to_have_value(f"{name}/notes:1:/input/notes")
    expect(dialog.locator(f"#floe-environment option[value='{name}/tab:1']")).to_have_count(1)
    dialog.locator("#floe-project").fill("browser")
    dialog.locator("#floe-message").fill("from the browser")
    shot(page, artifacts, "07-run-as-job-dialog")
    dialog.locator(".jp-Dialog-button.jp-mod-accept").click()
    link = page.locator("a.floe-job-link")
    expect(link).to_be_visible(timeout=60_000)
    job_url = hub.url + link.get_attribute("href")
    page.locator(".jp-Dialog-button.jp-mod-accept").click()

    job_page = page.context.new_page()
    job_page.goto(job_url)
    expect(job_page.locator("#state")).to_have_text("complete", timeout=180_000)
    expect(job_page.locator("#log")).to_contain_text('"acc": 0.7', timeout=30_000)
    expect(job_page.locator("canvas[data-metric=acc]")).to_be_visible(timeout=30_000)
    expect(job_page.locator("#output")).to_contain_text("result.txt")
    expect(job_page.locator("#output")).to_contain_text("Untitled.ipynb")
    expect(job_page.locator("body")).to_contain_text("from the browser")
    shot(job_page, artifacts, "08-job-page")

    # Run as job with a sweep: a task of one job per value, two at once, compared on its page.
    page.bring_to_front()
    page.click(".floe-run-as-job button, button.floe-run-as-job, .floe-run-as-job")
    dialog = page.locator(".jp-Dialog")
    dialog.locator("#floe-project").fill("browser")
    dialog.locator("#floe-sweep").fill("bias=1,2")
    dialog.locator("#floe-parallel").fill("2")
    shot(page, artifacts, "08b-run-as-job-sweep")
    dialog.locator(".jp-Dialog-button.jp-mod-accept").click()
    link = page.locator("a.floe-job-link")
    expect(link).to_be_visible(timeout=60_000)
    expect(page.locator(".floe-result")).to_contain_text(f"{name}/browser/task/1")
    task_url = hub.url + link.get_attribute("href")
    page.locator(".jp-Dialog-button.jp-mod-accept").click()
    job_page.goto(task_url)
    expect(job_page.locator("#state")).to_have_text("complete", timeout=240_000)  # it reloads
    expect(job_page.locator("#task-jobs tr[data-job]")).to_have_count(2)
    expect(job_page.locator("#task-jobs td.best")).to_contain_text("0.7")
    expect(job_page.locator("#task-chart")).to_be_visible()
    shot(job_page, artifacts, "08c-task-page")

    # Run as job on a schedule: made, listed with its next time, then removed.
    page.bring_to_front()
    page.click(".floe-run-as-job button, button.floe-run-as-job, .floe-run-as-job")
    dialog = page.locator(".jp-Dialog")
    dialog.locator("#floe-project").fill("browser")
    dialog.locator("#floe-cron").fill("@daily")
    dialog.locator(".jp-Dialog-button.jp-mod-accept").click()
    result = page.locator(".floe-result")
    expect(result).to_contain_text(f"{name}/browser/schedule/", timeout=60_000)
    expect(page.locator(".floe-result")).to_contain_text("is active")
    page.locator(".jp-Dialog-button.jp-mod-accept").click()
    token = hub.token_for(name, password)
    mine = hub.floe("GET", "schedules", token).json()
    assert len(mine) == 1 and mine[0]["cron"] == "@daily" and mine[0]["kind"] == "notebook"
    assert mine[0]["next_run"] and mine[0]["notebook"] == "Untitled.ipynb"
    assert hub.floe("DELETE", f"schedules/{mine[0]['id']}", token).status_code == 204

    # Save output: the notebook as it is and the workspace's /output, as a snapshot job.
    page.bring_to_front()
    page.click(".floe-save-output")
    dialog = page.locator(".jp-Dialog")
    dialog.locator("#floe-project").fill("browser")
    dialog.locator("#floe-message").fill("what I made by hand")
    dialog.locator(".jp-Dialog-button.jp-mod-accept").click()
    link = page.locator("a.floe-job-link")
    expect(link).to_be_visible(timeout=60_000)
    snapshot_url = hub.url + link.get_attribute("href")
    page.locator(".jp-Dialog-button.jp-mod-accept").click()
    job_page.goto(snapshot_url)
    expect(job_page.locator("#state")).to_have_text("complete")
    expect(job_page.locator("#output")).to_contain_text("mine.txt")
    expect(job_page.locator("#output")).to_contain_text("Untitled.ipynb")
    expect(job_page.locator("body")).to_contain_text("what I made by hand")
    shot(job_page, artifacts, "09-saved-output")

    # The Jobs panel lists both, live.
    page.bring_to_front()
    page.locator(".lm-TabBar-tab[title='Floe jobs']").click()
    expect(page.locator(f"#floe-jobs tr[data-job='{name}/browser/1']")).to_contain_text(
        "complete", timeout=30_000
    )
    expect(page.locator(f"#floe-jobs tr[data-job='{name}/browser/4']")).to_be_visible()  # saved
    # "Open output" copies a job's output into the workspace.
    page.locator(f"#floe-jobs tr[data-job='{name}/browser/1'] button").click()
    expect(page.locator(f"#floe-jobs tr[data-job='{name}/browser/1'] button")).to_have_text(
        "Copied to work/outputs/browser-1", timeout=60_000
    )
    shot(page, artifacts, "10-jobs-panel")

    hub.stop_server(name)
