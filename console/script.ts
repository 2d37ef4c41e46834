/**
 * The console's only script (served as /ui/static/console.js; the CSP allows scripts from 'self'
 * only): while a rotation runs, the credential page refreshes its live step, runs and audit trail
 * every 2 s. Without it the page still works; a reload shows the same.
 */
export const CONSOLE_JS = `
(function () {
  // The notice of an action is shown once: a reload or a bookmark of the page does not repeat it.
  if (location.search.indexOf('notice=') !== -1) history.replaceState(null, '', location.pathname);
  var live = document.getElementById('live');
  if (!live) return;
  var busy = false;
  function typing() {
    var fields = document.querySelectorAll('#actions textarea, #actions input[type=checkbox]');
    for (var i = 0; i < fields.length; i++) if (fields[i].value && fields[i].tagName === 'TEXTAREA' || fields[i].checked) return true;
    return document.activeElement && document.activeElement.closest && document.activeElement.closest('#actions') !== null;
  }
  function refresh() {
    var current = document.getElementById('live');
    if (busy || !current || current.getAttribute('data-running') !== 'yes') return;
    busy = true;
    fetch(location.pathname, { credentials: 'same-origin', headers: { accept: 'text/html' } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (text) {
        if (!text) return;
        var next = new DOMParser().parseFromString(text, 'text/html');
        ['live', 'runs', 'audit'].forEach(function (id) {
          var a = document.getElementById(id), b = next.getElementById(id);
          if (a && b) a.replaceWith(b);
        });
        var a = document.getElementById('actions'), b = next.getElementById('actions');
        if (a && b && a.getAttribute('data-actions') !== b.getAttribute('data-actions') && !typing()) a.replaceWith(b);
      })
      .catch(function () {})
      .then(function () { busy = false; });
  }
  setInterval(refresh, 2000);
})();
`;
