;;; kiln-eglot.el --- kiln-lsp with eglot  -*- lexical-binding: t; -*-
;; Load from init.el: (load "/path/to/kiln/editors/emacs/kiln-eglot.el")
;; Works with eglot 1.9 (Debian's elpa-eglot) and the eglot in Emacs 29+.
(require 'eglot)

(defcustom kiln-eglot-settings '(:kiln (:ignore [] :codeLens t :runTestsOnSave :json-false))
  "Settings sent to kiln-lsp (initializationOptions and workspace/configuration)."
  :type 'sexp :group 'eglot)

(dolist (mode '(python-mode python-ts-mode rust-mode rust-ts-mode js-mode js-ts-mode
                typescript-mode typescript-ts-mode))
  (add-to-list 'eglot-server-programs
               `(,mode . ("kiln-lsp" :initializationOptions ,kiln-eglot-settings))))

(setq-default eglot-workspace-configuration kiln-eglot-settings)

(defun kiln--command (command &optional extra)
  "Run kiln COMMAND for the function at point, with EXTRA arguments (a plist)."
  (let ((server (eglot-current-server)))
    (unless server (user-error "kiln-lsp is not running in this buffer"))
    (jsonrpc-request server :workspace/executeCommand
                     `(:command ,command
                       :arguments [(:uri ,(eglot--path-to-uri (buffer-file-name))
                                    :line ,(1- (line-number-at-pos))
                                    ,@extra)]))))

(defun kiln-generate () "Implement the stub at point." (interactive) (kiln--command "kiln.generate"))
(defun kiln-improve (instruction) "Improve the function at point as INSTRUCTION says."
  (interactive "sInstruction (empty for none): ")
  (kiln--command "kiln.improve" (list :instruction instruction)))
(defun kiln-generate-tests () "Generate tests for the function at point." (interactive) (kiln--command "kiln.generateTests"))
(defun kiln-run-tests () "Run the project's tests." (interactive) (kiln--command "kiln.runTests"))
(defun kiln-show-run () "Show the last run." (interactive) (message "%S" (kiln--command "kiln.showRun")))

(provide 'kiln-eglot)
;;; kiln-eglot.el ends here
