/* The "Copy" buttons of django-euler-oauth's pages (a static file: no inline script for a
   CSP to block). <button data-copy="ID" data-copied="Copied" hidden> copies the value of
   the field ID; it shows only where this script runs. */
(() => {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    const field = document.getElementById(button.dataset.copy);
    if (!field) continue;
    const label = button.textContent;
    button.hidden = false;
    button.addEventListener("click", async () => {
      field.select();
      try {
        await navigator.clipboard.writeText(field.value);
      } catch (_error) {  // no clipboard API here (or no permission): the selection
        document.execCommand("copy");
      }
      button.textContent = button.dataset.copied || label;
      setTimeout(() => { button.textContent = label; }, 2500);
    });
  }
})();
