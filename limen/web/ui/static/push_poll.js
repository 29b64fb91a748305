// Authenticator push pages (sign-in number matching, device enrolment): re-post the page's form after
// a few seconds, so the page moves on by itself once the app has answered. Each post reloads the page,
// which runs this again; the partial stops including it once the request is answered or expired.
// A file, not an inline script: the pages' Content-Security-Policy is default-src 'self'.
(function () {
  "use strict";
  var marker = document.querySelector("[data-push-poll]");
  var form = marker && marker.closest("form");
  if (!form) {
    return;
  }
  var seconds = Number(marker.getAttribute("data-push-poll"));
  if (!(seconds >= 1 && seconds <= 60)) {
    seconds = 2;
  }
  var posted = false;
  form.addEventListener("submit", function () {
    posted = true; // the person pressed the button first: don't post twice
  });
  window.setTimeout(function () {
    if (!posted) {
      posted = true;
      form.submit();
    }
  }, seconds * 1000);
})();
