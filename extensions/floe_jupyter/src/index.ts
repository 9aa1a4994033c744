// Floe in JupyterLab: "Run as job" and "Save output" on the notebook toolbar and in the command
// palette, and a Jobs panel in the left sidebar. Everything goes through the server extension
// (/floe/...), which talks to the floe service with the user's own hub token. The dialogs' bodies
// are in forms.ts.
import {
  ILabShell,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  Dialog,
  ICommandPalette,
  showDialog,
  showErrorMessage,
  ToolbarButton
} from '@jupyterlab/apputils';
import { URLExt } from '@jupyterlab/coreutils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ServerConnection } from '@jupyterlab/services';
import { DisposableDelegate, IDisposable } from '@lumino/disposable';
import { Widget } from '@lumino/widgets';

import { el, IContext, RunJobForm, SaveOutputForm } from './forms';

interface IJob {
  id: number;
  name: string;
  state: string;
  reason: string;
  kind: string;
  url: string;
  output: string | null;
}

async function requestAPI<T>(endPoint: string, init: RequestInit = {}): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'floe', endPoint);
  const response = await ServerConnection.makeRequest(url, init, settings);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(data.error || data.message || response.statusText);
  }
  return data as T;
}

function defaultProject(panel: NotebookPanel): string {
  const base = panel.context.path.split('/').pop() || 'notebooks';
  const slug = base.replace(/\.ipynb$/, '').toLowerCase().replace(/[^a-z0-9._-]+/g, '-');
  return slug.replace(/^[^a-z0-9]+/, '') || 'notebooks';
}

async function showJobLink(title: string, job: IJob): Promise<void> {
  const body = el('div', { class: 'floe-result' });
  body.appendChild(el('span', {}, `${job.name} is ${job.state}. `));
  const link = el('a', { href: job.url, target: '_blank', class: 'floe-job-link' }, 'Open its page');
  body.appendChild(link);
  await showDialog({ title, body: new Widget({ node: body }), buttons: [Dialog.okButton()] });
}

interface IFormWidget extends Widget {
  getValue(): Record<string, unknown>;
}

/** Ask with ``form``; send its answer and the notebook as the editor shows it (unsaved edits
 * included) to the server extension's ``endPoint``; show the new job's link. */
async function submitNotebook(
  panel: NotebookPanel,
  title: string,
  form: (ctx: IContext) => IFormWidget,
  accept: string,
  endPoint: string,
  done: string
): Promise<void> {
  const ctx = await requestAPI<IContext>('context');
  const result = await showDialog({
    title,
    body: form(ctx),
    buttons: [Dialog.cancelButton(), Dialog.okButton({ label: accept })]
  });
  if (!result.button.accept || !result.value) {
    return;
  }
  const request = {
    ...result.value,
    path: panel.context.path,
    notebook: panel.context.model.toJSON()
  };
  const job = await requestAPI<IJob>(endPoint, { method: 'POST', body: JSON.stringify(request) });
  await showJobLink(done, job);
}

function runAsJob(panel: NotebookPanel): Promise<void> {
  const form = (ctx: IContext) => new RunJobForm(ctx, defaultProject(panel));
  return submitNotebook(panel, 'Run as job', form, 'Run', 'run', 'Submitted');
}

function saveOutput(panel: NotebookPanel): Promise<void> {
  const form = (ctx: IContext) => new SaveOutputForm(ctx, defaultProject(panel));
  return submitNotebook(panel, 'Save output', form, 'Save', 'save', 'Output saved');
}

/** The Jobs panel: recent jobs with live state, links, and "open output in workspace". */
class JobsPanel extends Widget {
  private timer = 0;

  constructor() {
    super();
    this.id = 'floe-jobs';
    this.title.label = 'Jobs';
    this.title.caption = 'Floe jobs';
    this.addClass('floe-jobs');
  }

  protected onAfterShow(): void {
    void this.refresh();
    this.timer = window.setInterval(() => void this.refresh(), 3000);
  }

  protected onAfterHide(): void {
    window.clearInterval(this.timer);
  }

  async refresh(): Promise<void> {
    let jobs: IJob[];
    try {
      jobs = await requestAPI<IJob[]>('jobs');
    } catch (err) {
      this.node.textContent = `Could not list jobs: ${err}`;
      return;
    }
    const table = el('table');
    for (const job of jobs) {
      const row = el('tr', { 'data-job': job.name });
      const name = el('td');
      name.appendChild(el('a', { href: `/services/floe/jobs/${job.id}`, target: '_blank' }, job.name));
      row.appendChild(name);
      const state = el('td');
      state.appendChild(el('span', { class: `floe-state floe-state-${job.state}`, title: job.reason }, job.state));
      row.appendChild(state);
      const actions = el('td');
      if (job.output) {
        const button = el('button', { class: 'jp-mod-styled' }, 'Open output');
        button.onclick = async () => {
          try {
            const copied = await requestAPI<{ path: string }>('open-output', {
              method: 'POST',
              body: JSON.stringify({ job: job.name })
            });
            button.textContent = `Copied to ${copied.path}`;
          } catch (err) {
            void showErrorMessage('Open output', String(err));
          }
        };
        actions.appendChild(button);
      }
      row.appendChild(actions);
      table.appendChild(row);
    }
    this.node.replaceChildren(
      jobs.length ? table : el('p', {}, 'No jobs yet: press Run as job on a notebook.')
    );
  }
}

function reportErrors(title: string, work: () => Promise<void>): () => Promise<void> {
  return async () => {
    try {
      await work();
    } catch (err) {
      await showErrorMessage(title, err instanceof Error ? err.message : String(err));
    }
  };
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'floe-jupyter:plugin',
  description: 'Run as job, Save output and a Jobs panel for Floe workspaces.',
  autoStart: true,
  requires: [INotebookTracker, ICommandPalette, ILabShell],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    palette: ICommandPalette,
    shell: ILabShell
  ) => {
    const current = () => tracker.currentWidget;
    app.commands.addCommand('floe:run-as-job', {
      label: 'Run as job',
      caption: 'Run this notebook as a tracked Floe job',
      isEnabled: () => current() !== null,
      execute: () => {
        const panel = current();
        return panel ? reportErrors('Run as job', () => runAsJob(panel))() : undefined;
      }
    });
    app.commands.addCommand('floe:save-output', {
      label: 'Save output',
      caption: 'Keep this notebook and /output as a tracked Floe job',
      isEnabled: () => current() !== null,
      execute: () => {
        const panel = current();
        return panel ? reportErrors('Save output', () => saveOutput(panel))() : undefined;
      }
    });
    palette.addItem({ command: 'floe:run-as-job', category: 'Floe' });
    palette.addItem({ command: 'floe:save-output', category: 'Floe' });

    app.docRegistry.addWidgetExtension('Notebook', {
      createNew: (panel: NotebookPanel): IDisposable => {
        const run = new ToolbarButton({
          label: 'Run as job',
          className: 'floe-run-as-job',
          tooltip: 'Run this notebook as a tracked Floe job',
          onClick: () => void reportErrors('Run as job', () => runAsJob(panel))()
        });
        const save = new ToolbarButton({
          label: 'Save output',
          className: 'floe-save-output',
          tooltip: 'Keep this notebook and /output as a tracked Floe job',
          onClick: () => void reportErrors('Save output', () => saveOutput(panel))()
        });
        panel.toolbar.insertItem(10, 'floe-run-as-job', run);
        panel.toolbar.insertItem(11, 'floe-save-output', save);
        return new DisposableDelegate(() => {
          run.dispose();
          save.dispose();
        });
      }
    });

    shell.add(new JobsPanel(), 'left', { rank: 900 });
  }
};

export default plugin;
