// The administrators' pages: a form with data-confirm asks before it is sent (版本迁移, 故障, 调整流转).
document.querySelectorAll('form[data-confirm]').forEach(function (form) {
  form.addEventListener('submit', function (event) {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
});
